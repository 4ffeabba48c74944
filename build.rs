//! With the `native` feature the binary links tch; see runtime/build.rs for why every linking crate needs this.
fn main() {
    if std::env::var_os("CARGO_FEATURE_NATIVE").is_none() {
        return;
    }
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys must be a direct dependency so that DEP_TCH_LIBTORCH_LIB is set");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}
