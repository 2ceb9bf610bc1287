//! Lets the binaries, tests and benches of this crate find libtorch at run time without the user
//! exporting LD_LIBRARY_PATH: torch-sys's build script reports the folder it linked against
//! (`cargo:libtorch_lib`, seen here as DEP_TCH_LIBTORCH_LIB) and we record it as an rpath.
//!
//! Also rebuilds when a ledger migration changes: `sqlx::migrate!` embeds the SQL files at build
//! time, and cargo does not watch them by itself.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=src/ledger/migrations");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
