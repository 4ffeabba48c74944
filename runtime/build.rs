//! Link flags every crate that links tch needs for its own binaries, tests and examples.
//! tch's own build script emits them only for itself (cargo does not propagate `rustc-link-arg`),
//! so without this the test binaries miss `libtorch_cuda` and find no libtorch without LD_LIBRARY_PATH.
//!
//! It also compiles `csrc/train_shim.cpp`, the small C ABI over libtorch functions tch does not expose
//! (per-device autocast, resetting a gradient to undefined), against the same libtorch headers.
use std::path::{Path, PathBuf};

fn main() {
    // Exported by torch-sys (`links = "tch"`) to direct dependents only.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys must be a direct dependency so that DEP_TCH_LIBTORCH_LIB is set");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // Keep libtorch.so (which pulls libtorch_cuda.so) although no symbol of it is referenced.
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");

    compile_train_shim(Path::new(&lib));
}

/// Compiles the C++ shim with the include dirs beside libtorch's lib dir and torch's C++ ABI flag.
fn compile_train_shim(libtorch_lib: &Path) {
    let source = "csrc/train_shim.cpp";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = libtorch_lib
        .parent()
        .expect("DEP_TCH_LIBTORCH_LIB has a parent directory");
    let include = root.join("include");
    assert!(
        include.join("ATen").is_dir(),
        "libtorch headers not found in {} (expected beside DEP_TCH_LIBTORCH_LIB)",
        include.display()
    );
    cc::Build::new()
        .cpp(true)
        .file(source)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .warnings(false)
        .extra_warnings(false)
        .compile("sam3c_train_shim");
}

/// torch's `_GLIBCXX_USE_CXX11_ABI`: from LIBTORCH_CXX11_ABI, else from the venv's torch when torch-sys links it
/// (LIBTORCH_USE_PYTORCH), else 1 (torch-sys's own default).
fn cxx11_abi() -> String {
    if let Ok(abi) = std::env::var("LIBTORCH_CXX11_ABI") {
        return abi;
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = match std::env::var_os("VIRTUAL_ENV") {
            Some(venv) => PathBuf::from(venv).join("bin/python"),
            None => PathBuf::from("python3"),
        };
        let output = std::process::Command::new(&python)
            .args([
                "-c",
                "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))",
            ])
            .output();
        if let Ok(output) = output {
            let abi = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if abi == "0" || abi == "1" {
                return abi;
            }
        }
        panic!(
            "could not read torch's C++ ABI flag with {}; set LIBTORCH_CXX11_ABI",
            python.display()
        );
    }
    "1".to_owned()
}
