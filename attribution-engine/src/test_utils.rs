//! Small models for tests.

use openlora_server::{LlamaConfig, MakeModel, ModelSize, model::Llama};
use tch::{Device, Kind};

/// The tiny model (2 layers, width 64), written to a temporary folder and loaded in f32.
pub(crate) fn tiny_model() -> (Llama, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg: LlamaConfig = MakeModel::new(ModelSize::Tiny).write(dir.path()).expect("make model");
    let model = Llama::load(dir.path(), &cfg, None, Kind::Float, Device::Cpu).expect("load");
    (model, dir)
}
