//! Device selection: CUDA when present, CPU otherwise; an explicit choice overrides.

use tch::Device;

/// The device to run on: `requested` ("cpu", "cuda", "cuda:N") or, when `None`, CUDA if available.
pub fn select(requested: Option<&str>) -> Result<Device, String> {
    match requested {
        None => Ok(Device::cuda_if_available()),
        Some("cpu") => Ok(Device::Cpu),
        Some(s) if s == "cuda" || s.starts_with("cuda:") => {
            if !tch::Cuda::is_available() {
                return Err(format!(
                    "device `{s}` was requested but CUDA is not available on this machine"
                ));
            }
            let index = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n
                    .parse::<usize>()
                    .map_err(|_| format!("`{s}` is not a device: expected cuda:N"))?,
            };
            let count = tch::Cuda::device_count() as usize;
            if index >= count {
                return Err(format!(
                    "device `{s}` does not exist: this machine has {count} CUDA device(s)"
                ));
            }
            Ok(Device::Cuda(index))
        }
        Some(other) => Err(format!(
            "unknown device `{other}`: expected cpu, cuda or cuda:N"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_selectable_and_computes() {
        let d = select(Some("cpu")).unwrap();
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]).to_device(d);
        assert_eq!(f64::try_from(t.sum(tch::Kind::Float)).unwrap(), 6.0);
    }

    #[test]
    fn bad_device_strings_are_errors() {
        assert!(select(Some("gpu")).unwrap_err().contains("unknown device"));
        assert!(select(Some("cuda:x")).is_err());
    }
}
