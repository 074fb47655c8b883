//! Shared build script: embeds libtorch's library folder as an rpath in every binary and test
//! of the crate, so `adforge` finds libtorch without LD_LIBRARY_PATH.
//!
//! torch-sys publishes the folder as `DEP_TCH_LIBTORCH_LIB` to crates that depend on it
//! directly, which is why each crate using this script lists `torch-sys` as a dependency.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        // libtorch_cpu needs libgomp and libcudart from the same folder at load time.
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
    }
}
