//! Mixed precision: libtorch's per-device autocast, switched through the C++ shim (tch's own `autocast` is the
//! deprecated CUDA-only fp16 switch and does nothing on CPU).
//!
//! Inside an [`Autocast`] scope, ops on the autocast lists run in the lower precision (matmul, conv, linear in
//! bf16) while precision-sensitive ops (softmax, losses, norms) stay fp32, exactly as `torch.autocast`. Upstream
//! trains with `torch.amp.autocast("cuda", dtype=bfloat16)` and a GradScaler that is inert for bf16, so no scaler
//! is needed here. Autocast state is per thread: enter the scope on the thread that runs the forward pass.

use super::{ffi, Result, TrainError};
use std::marker::PhantomData;
use tch::{Device, Kind};

/// An autocast scope; dropping it restores the previous state of the device (scopes nest).
#[must_use = "autocast is disabled again when the guard is dropped"]
pub struct Autocast {
    device_code: i32,
    previous_enabled: bool,
    previous_dtype: i32,
    // Autocast state is thread-local: the guard must be dropped on the thread that created it.
    _not_send: PhantomData<*const ()>,
}

impl Autocast {
    /// Enables autocast to `dtype` (BFloat16 or Half) for `device` on this thread.
    pub fn enter(device: Device, dtype: Kind) -> Result<Self> {
        let device_code = match device {
            Device::Cpu => 0,
            Device::Cuda(_) => 1,
            other => {
                return Err(TrainError::Autocast(format!(
                    "autocast is supported on cpu and cuda, not {other:?}"
                )))
            }
        };
        let dtype_code = match dtype {
            Kind::BFloat16 => 15,
            Kind::Half => 5,
            other => {
                return Err(TrainError::Autocast(format!(
                    "autocast dtype must be BFloat16 or Half, not {other:?}"
                )))
            }
        };
        let previous_enabled =
            ffi::autocast_is_enabled(device_code).map_err(TrainError::Autocast)?;
        let previous_dtype = ffi::autocast_dtype(device_code).map_err(TrainError::Autocast)?;
        ffi::autocast_set(device_code, true, dtype_code).map_err(TrainError::Autocast)?;
        ffi::autocast_increment_nesting();
        Ok(Autocast {
            device_code,
            previous_enabled,
            previous_dtype,
            _not_send: PhantomData,
        })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // The cast cache (fp32 weights cast once per scope) is released when the outermost scope exits.
        if ffi::autocast_decrement_nesting() == 0 {
            ffi::autocast_clear_cache();
        }
        // Restoring a state that was valid before cannot fail; there is nothing sensible to do if it did.
        let _ = ffi::autocast_set(self.device_code, self.previous_enabled, self.previous_dtype);
    }
}

/// Whether autocast is currently enabled for `device` on this thread.
pub fn is_enabled(device: Device) -> Result<bool> {
    let code = match device {
        Device::Cuda(_) => 1,
        _ => 0,
    };
    ffi::autocast_is_enabled(code).map_err(TrainError::Autocast)
}

/// Runs `f` with autocast to `dtype` on `device` when `enabled`, plainly otherwise.
pub fn autocast<T>(enabled: bool, device: Device, dtype: Kind, f: impl FnOnce() -> T) -> Result<T> {
    let _guard = if enabled {
        Some(Autocast::enter(device, dtype)?)
    } else {
        None
    };
    Ok(f())
}
