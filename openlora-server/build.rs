//! Lets the binaries, tests and benches of this crate find libtorch at run time without the user
//! exporting LD_LIBRARY_PATH: torch-sys's build script reports the folder it linked against
//! (`cargo:libtorch_lib`, seen here as DEP_TCH_LIBTORCH_LIB) and we record it as an rpath.
//!
//! With the `cuda` feature it also records the folder of the NVRTC wheel that scripts/bootstrap
//! installs beside libtorch, so that cudarc's `dlopen` of libnvrtc finds it (compiling the
//! kernels needs no GPU; a GPU machine's own CUDA libraries are found through its library path).
//!
//! Also rebuilds when a ledger migration changes: `sqlx::migrate!` embeds the SQL files at build
//! time, and cargo does not watch them by itself.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=src/ledger/migrations");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
            // site-packages/torch/lib → site-packages/nvidia/cu13/lib
            let nvrtc = format!("{dir}/../../nvidia/cu13/lib");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{nvrtc}");
            // libnvrtc itself opens libnvrtc-builtins by name, which the rpath above does not
            // reach: the compile test loads it from here first.
            println!("cargo:rustc-env=OL_NVRTC_DIR={nvrtc}");
        }
    }
}
