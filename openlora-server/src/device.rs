//! Compute devices: parsing `--device`, and what this build of libtorch can use.

use tch::Device;

/// Errors choosing a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The name is not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device `{0}`: expected cpu, cuda or cuda:N")]
    Unknown(String),
    /// A CUDA device was asked for, but libtorch here has no CUDA device.
    #[error("device `{0}` requested, but libtorch reports no usable CUDA device on this machine")]
    CudaUnavailable(String),
}

/// Parses `cpu`, `cuda` or `cuda:N` and checks that the device exists.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    let device = match name.trim() {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| DeviceError::Unknown(name.to_owned()))?,
    };
    if device >= tch::Cuda::device_count().max(0) as usize {
        return Err(DeviceError::CudaUnavailable(name.to_owned()));
    }
    Ok(Device::Cuda(device))
}

/// What the running libtorch offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// CUDA devices libtorch can use (0 with the CPU-only link).
    pub cuda_devices: i64,
    /// Intra-op threads libtorch uses.
    pub threads: i32,
}

impl DeviceInfo {
    /// Asks libtorch.
    pub fn detect() -> Self {
        Self { cuda_devices: tch::Cuda::device_count(), threads: tch::get_num_threads() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        for bad in ["gpu", "cuda:", "cuda:x", "", "CPU"] {
            assert!(matches!(parse_device(bad), Err(DeviceError::Unknown(_))), "{bad:?}");
        }
        if DeviceInfo::detect().cuda_devices == 0 {
            assert!(matches!(parse_device("cuda"), Err(DeviceError::CudaUnavailable(_))));
        }
        assert!(matches!(parse_device("cuda:4096"), Err(DeviceError::CudaUnavailable(_))));
    }
}
