//! Link flags every crate that links tch needs for its own binaries, tests and examples.
//! tch's own build script emits them only for itself (cargo does not propagate `rustc-link-arg`),
//! so without this the test binaries miss `libtorch_cuda` and find no libtorch without LD_LIBRARY_PATH.
fn main() {
    // Exported by torch-sys (`links = "tch"`) to direct dependents only.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys must be a direct dependency so that DEP_TCH_LIBTORCH_LIB is set");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // Keep libtorch.so (which pulls libtorch_cuda.so) although no symbol of it is referenced.
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
