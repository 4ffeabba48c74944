//! Declarations of `csrc/train_shim.cpp` (compiled by build.rs), and safe wrappers around them.

use std::os::raw::{c_char, c_int, c_void};

extern "C" {
    fn sam3c_autocast_set(
        device: c_int,
        enabled: c_int,
        dtype: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn sam3c_autocast_is_enabled(device: c_int) -> c_int;
    fn sam3c_autocast_get_dtype(device: c_int) -> c_int;
    fn sam3c_autocast_increment_nesting() -> c_int;
    fn sam3c_autocast_decrement_nesting() -> c_int;
    fn sam3c_autocast_clear_cache();
    fn sam3c_tensor_reset_grad(tensor: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
}

const ERR_LEN: usize = 512;

fn message(buffer: &[c_char]) -> String {
    let bytes: Vec<u8> = buffer
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Device codes of the shim: 0 = CPU, 1 = CUDA.
pub(crate) fn autocast_set(device: i32, enabled: bool, dtype: i32) -> Result<(), String> {
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: the shim catches every C++ exception and writes at most ERR_LEN bytes into `err`.
    let status =
        unsafe { sam3c_autocast_set(device, enabled as c_int, dtype, err.as_mut_ptr(), ERR_LEN) };
    if status == 0 {
        Ok(())
    } else {
        Err(message(&err))
    }
}

pub(crate) fn autocast_is_enabled(device: i32) -> Result<bool, String> {
    // SAFETY: no arguments besides an int; exceptions are caught in the shim.
    match unsafe { sam3c_autocast_is_enabled(device) } {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err("could not read the autocast state".into()),
    }
}

pub(crate) fn autocast_dtype(device: i32) -> Result<i32, String> {
    // SAFETY: as above.
    match unsafe { sam3c_autocast_get_dtype(device) } {
        -1 => Err("could not read the autocast dtype".into()),
        code => Ok(code),
    }
}

pub(crate) fn autocast_increment_nesting() -> i32 {
    // SAFETY: as above.
    unsafe { sam3c_autocast_increment_nesting() }
}

pub(crate) fn autocast_decrement_nesting() -> i32 {
    // SAFETY: as above.
    unsafe { sam3c_autocast_decrement_nesting() }
}

pub(crate) fn autocast_clear_cache() {
    // SAFETY: as above.
    unsafe { sam3c_autocast_clear_cache() }
}

/// Leaves `tensor`'s gradient undefined, as torch's `zero_grad(set_to_none=True)`.
pub(crate) fn reset_grad(tensor: &mut tch::Tensor) -> Result<(), String> {
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: tch's C_tensor is a pointer to an `at::Tensor`, which is what the shim expects; the tensor is
    // borrowed mutably for the duration of the call.
    let status = unsafe {
        sam3c_tensor_reset_grad(
            tensor.as_mut_ptr() as *mut c_void,
            err.as_mut_ptr(),
            ERR_LEN,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(message(&err))
    }
}
