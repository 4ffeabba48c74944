//! bf16 autocast on CPU through the C++ shim, and the TensorBoard event writer read back live by TensorBoard's
//! own EventAccumulator.

mod common;

use common::{oracle_python, run_oracle_script, TempDir};
use sam3c_runtime::train::amp::{autocast, is_enabled, Autocast};
use sam3c_runtime::train::tensorboard::EventWriter;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn matrices() -> (Tensor, Tensor) {
    (
        Tensor::ones([4, 3], (Kind::Float, Device::Cpu)),
        Tensor::ones([3, 2], (Kind::Float, Device::Cpu)),
    )
}

#[test]
fn matmul_runs_in_bf16_inside_autocast_and_in_fp32_outside() {
    let (a, b) = matrices();
    assert_eq!(a.matmul(&b).kind(), Kind::Float);
    assert!(!is_enabled(Device::Cpu).unwrap());
    {
        let _outer = Autocast::enter(Device::Cpu, Kind::BFloat16).unwrap();
        assert!(is_enabled(Device::Cpu).unwrap());
        assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
        // Precision-sensitive ops stay fp32 under autocast.
        assert_eq!(a.softmax(-1, Kind::Float).kind(), Kind::Float);
        assert_eq!(a.log_softmax(-1, None::<Kind>).kind(), Kind::Float);
        {
            let _inner = Autocast::enter(Device::Cpu, Kind::BFloat16).unwrap();
            assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
        }
        // Leaving a nested scope keeps the outer one.
        assert!(is_enabled(Device::Cpu).unwrap());
        assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
        // Gradients of fp32 leaves stay fp32.
        let leaf = Tensor::ones([4, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        leaf.matmul(&b).sum(Kind::Float).backward();
        assert_eq!(leaf.grad().kind(), Kind::Float);
    }
    assert!(!is_enabled(Device::Cpu).unwrap());
    assert_eq!(a.matmul(&b).kind(), Kind::Float);
    let inside = autocast(true, Device::Cpu, Kind::BFloat16, || a.matmul(&b).kind()).unwrap();
    let plain = autocast(false, Device::Cpu, Kind::BFloat16, || a.matmul(&b).kind()).unwrap();
    assert_eq!((inside, plain), (Kind::BFloat16, Kind::Float));
}

#[test]
fn autocast_rejects_unsupported_dtypes() {
    let err = Autocast::enter(Device::Cpu, Kind::Float).err().unwrap();
    assert!(err.to_string().contains("BFloat16 or Half"), "{err}");
    assert!(!is_enabled(Device::Cpu).unwrap());
}

#[test]
fn event_files_read_back_in_tensorboard() {
    let Some(python) = oracle_python() else {
        return;
    };
    let out = TempDir::new("train-events-out");
    let logs = TempDir::new("train-events");
    let path = {
        let mut writer = EventWriter::create(&logs.0).unwrap();
        for step in 0..5i64 {
            writer
                .add_scalars(
                    step * 10,
                    &[
                        ("Losses/train_all_loss", 1.0 / (step as f32 + 1.0)),
                        ("Optim/lr", 8e-5 * step as f32),
                    ],
                )
                .unwrap();
        }
        writer.add_scalar("Trainer/where", 0.25, 7).unwrap();
        writer.flush().unwrap();
        writer.path().to_owned()
    };
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    // A second writer in the same directory gets its own file.
    let second = EventWriter::create(&logs.0).unwrap();
    assert_ne!(second.path(), path);
    drop(second);

    run_oracle_script(&python, "train_tensorboard_oracle.py", &[&out.0, &logs.0]);
    let read: Value =
        serde_json::from_str(&std::fs::read_to_string(out.0.join("scalars.json")).unwrap())
            .unwrap();
    assert_eq!(read["files"].as_array().unwrap().len(), 2);
    // Two file-version events, five events of two scalars, one event of one scalar.
    assert_eq!(read["records"].as_u64().unwrap(), 8);
    // The accumulator parses "brain.Event:2" into the number 2.
    assert_eq!(read["file_version"].as_f64(), Some(2.0), "{read}");
    let scalars = &read["scalars"];
    let series = |tag: &str| -> Vec<(i64, f64)> {
        scalars[tag]
            .as_array()
            .unwrap_or_else(|| panic!("tag {tag} missing in {scalars}"))
            .iter()
            .map(|e| (e[0].as_i64().unwrap(), e[1].as_f64().unwrap()))
            .collect()
    };
    let loss = series("Losses/train_all_loss");
    assert_eq!(
        loss.iter().map(|e| e.0).collect::<Vec<_>>(),
        [0, 10, 20, 30, 40]
    );
    for (k, (_, value)) in loss.iter().enumerate() {
        assert_eq!(*value as f32, 1.0 / (k as f32 + 1.0));
    }
    let lr = series("Optim/lr");
    assert_eq!(lr[3].1 as f32, 8e-5 * 3.0);
    assert_eq!(series("Trainer/where"), [(7, 0.25)]);
}
