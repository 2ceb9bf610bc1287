//! Lets the binary, tests and benches of this crate find libtorch at run time without the user
//! exporting LD_LIBRARY_PATH: torch-sys's build script reports the folder it linked against
//! (seen here as DEP_TCH_LIBTORCH_LIB) and we record it as an rpath, as openlora-server does.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
