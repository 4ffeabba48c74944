//! The non-finite guard of the training loop: reports which loss terms (or the gradient norm) went NaN or
//! infinite, and at which step, instead of letting the optimizer write NaN into the weights.

use super::loss::LossDict;
use super::{Result, TrainError};
use tch::{Device, Kind, Tensor};

/// Checks every value of `losses` at `step` with one device-to-host copy; the error lists every non-finite term.
pub fn check_losses(step: u64, losses: &LossDict) -> Result<()> {
    if losses.is_empty() {
        return Ok(());
    }
    let values: Vec<Tensor> = losses
        .values()
        .map(|v| {
            v.detach()
                .to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .reshape([-1])
                .sum(Kind::Double)
        })
        .collect();
    let values = Vec::<f64>::try_from(Tensor::f_stack(&values, 0)?)?;
    let terms: Vec<(String, f64)> = losses
        .keys()
        .zip(values)
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, v)| (k.clone(), v))
        .collect();
    if terms.is_empty() {
        Ok(())
    } else {
        Err(TrainError::NonFinite { step, terms })
    }
}

/// Checks a gradient norm (as returned by `AdamW::clip_grad_norm`) at `step`.
pub fn check_grad_norm(step: u64, norm: f64) -> Result<()> {
    if norm.is_finite() {
        Ok(())
    } else {
        Err(TrainError::NonFinite {
            step,
            terms: vec![("grad_norm".to_owned(), norm)],
        })
    }
}
