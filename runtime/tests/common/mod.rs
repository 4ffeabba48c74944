//! Helpers of the oracle tests: run a script of `tests/oracle/` with `$SAM3C_PYTHON`, read the safetensors it
//! writes, copy upstream weights into a VarStore strictly, and compare tensors with a relative tolerance.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tch::{nn, Kind, Tensor};

/// The oracle interpreter, or `None` (with a message) when the Python environment is absent. Under
/// `SAM3C_REQUIRE_ORACLES=1` a missing interpreter is a failure instead.
pub fn oracle_python() -> Option<PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            if std::env::var("SAM3C_REQUIRE_ORACLES").as_deref() == Ok("1") {
                panic!("SAM3C_REQUIRE_ORACLES=1 but SAM3C_PYTHON is unset: source scripts/env.sh");
            }
            eprintln!(
                "skipping oracle test: SAM3C_PYTHON is unset (source scripts/env.sh to run it)"
            );
            None
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sam3c-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn oracle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

pub fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// Runs `tests/oracle/<script> <case> <out.safetensors> [extra args]` and returns the tensors it wrote.
pub fn run_oracle(python: &Path, script: &str, case: &str, extra: &[&str]) -> Fixture {
    let dir = TempDir::new(case);
    let out = dir.0.join("out.safetensors");
    let output = Command::new(python)
        .arg(oracle_dir().join(script))
        .arg(case)
        .arg(&out)
        .args(extra)
        .env("SAM3C_ASSETS", assets_dir())
        .output()
        .expect("failed to start the oracle interpreter");
    assert!(
        output.status.success(),
        "oracle {script} {case} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tensors =
        Tensor::read_safetensors(&out).expect("oracle output is not readable safetensors");
    Fixture {
        tensors: tensors.into_iter().collect(),
        _dir: Some(dir),
    }
}

/// The tensors an oracle wrote, by name (`weights.*`, `input.*`, `output.*`, `grads.*`).
pub struct Fixture {
    pub tensors: HashMap<String, Tensor>,
    _dir: Option<TempDir>,
}

impl Fixture {
    pub fn get(&self, name: &str) -> Tensor {
        match self.tensors.get(name) {
            Some(t) => t.shallow_clone(),
            None => {
                let mut names: Vec<_> = self.tensors.keys().cloned().collect();
                names.sort();
                panic!("the oracle wrote no `{name}`; it wrote {names:?}")
            }
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Names under `prefix.` with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> HashMap<String, Tensor> {
        let p = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&p)
                    .map(|n| (n.to_string(), v.shallow_clone()))
            })
            .collect()
    }

    /// Copies `weights.*` into `vs`: every variable must have a weight of the same shape and every weight a
    /// variable (complex RoPE buffers are not exported: they are recomputed).
    pub fn load_weights(&self, vs: &nn::VarStore) {
        let weights = self.with_prefix("weights");
        let vars = vs.variables();
        let mut missing: Vec<_> = vars
            .keys()
            .filter(|k| !weights.contains_key(*k))
            .cloned()
            .collect();
        let mut unexpected: Vec<_> = weights
            .keys()
            .filter(|k| !vars.contains_key(*k))
            .cloned()
            .collect();
        missing.sort();
        unexpected.sort();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "weights do not match the VarStore: missing {missing:?}, unexpected {unexpected:?}"
        );
        tch::no_grad(|| {
            for (name, mut var) in vars {
                let w = &weights[&name];
                assert_eq!(var.size(), w.size(), "shape of {name}");
                var.copy_(&w.to_kind(var.kind()).to_device(var.device()));
            }
        });
    }

    /// Compares every `grads.<name>` with the gradient of the VarStore variable `<name>`; a variable the
    /// oracle wrote no gradient for must have none (or an all-zero one).
    ///
    /// Each gradient is compared relative to its own largest entry, floored at 1e-2 of the largest gradient
    /// of the whole backward pass: gradients that are zero in exact arithmetic (e.g. of a bias added to every
    /// logit of a softmax row) come out as float noise on both sides and have no meaningful relative error.
    pub fn check_grads(&self, vs: &nn::VarStore, rel_tol: f64) {
        let grads = self.with_prefix("grads");
        let global = grads
            .values()
            .map(|g| g.abs().max().double_value(&[]))
            .fold(0.0f64, f64::max);
        let mut names: Vec<_> = vs.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in names {
            let ours = var.grad();
            match grads.get(&name) {
                Some(reference) => {
                    assert!(
                        ours.defined(),
                        "{name}: upstream has a gradient, ours has none"
                    );
                    let what = format!("grad {name}");
                    assert_close_floor(&what, &ours, reference, rel_tol, 1e-2 * global);
                }
                None => {
                    if ours.defined() {
                        let m = ours.abs().max().double_value(&[]);
                        assert!(
                            m == 0.0,
                            "{name}: upstream has no gradient, ours has max |g| = {m}"
                        );
                    }
                }
            }
        }
    }
}

/// `max|a - b| <= rel_tol · max(max|b|, 1e-6)`, with shapes equal; prints the measured ratio.
pub fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, rel_tol: f64) {
    assert_close_floor(what, ours, reference, rel_tol, 1e-6)
}

/// `max|a - b| <= rel_tol · max(max|b|, floor)`, with shapes equal.
pub fn assert_close_floor(what: &str, ours: &Tensor, reference: &Tensor, rel_tol: f64, floor: f64) {
    assert_eq!(ours.size(), reference.size(), "{what}: shape");
    let a = ours.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let b = reference.to_kind(Kind::Double);
    if b.numel() == 0 {
        return;
    }
    assert!(
        a.isfinite().all().int64_value(&[]) == 1,
        "{what}: ours has non-finite values"
    );
    let scale = b.abs().max().double_value(&[]).max(floor).max(1e-12);
    let diff = (&a - &b).abs().max().double_value(&[]);
    // Shown with --nocapture: the measured agreement, not just pass/fail.
    eprintln!("parity {what}: max|diff| / scale = {:.2e}", diff / scale);
    assert!(
        diff <= rel_tol * scale,
        "{what}: max|diff| = {diff:.3e} > {rel_tol:.1e} * max|ref| ({scale:.3e}), ratio {:.3e}",
        diff / scale
    );
}

/// A VarStore on the CPU, for the parity tests (deterministic, one intra-op thread per test thread).
pub fn cpu_var_store() -> nn::VarStore {
    tch::set_num_threads(1);
    nn::VarStore::new(tch::Device::Cpu)
}

/// Runs every case of `script` once per test binary (one interpreter start instead of one per test) and
/// returns the fixture of `case`, or `None` when the oracle environment is absent (see `oracle_python`).
pub fn shared_fixture(script: &'static str, case: &str) -> Option<Fixture> {
    use std::sync::{Mutex, OnceLock};
    static RUNS: OnceLock<Mutex<HashMap<&'static str, std::sync::Arc<TempDir>>>> = OnceLock::new();
    let python = oracle_python()?;
    let dir = {
        let mut runs = RUNS
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap();
        runs.entry(script)
            .or_insert_with(|| {
                let dir = TempDir(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                    "sam3c-oracle-{}-{}",
                    script.trim_end_matches(".py"),
                    std::process::id()
                )));
                let _ = std::fs::remove_dir_all(&dir.0);
                let output = Command::new(&python)
                    .arg(oracle_dir().join(script))
                    .arg("all")
                    .arg(&dir.0)
                    .arg(serde_json::to_string(&parity_config()).unwrap())
                    .env("SAM3C_ASSETS", assets_dir())
                    .output()
                    .expect("failed to start the oracle interpreter");
                assert!(
                    output.status.success(),
                    "oracle {script} failed:\n{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                std::sync::Arc::new(dir)
            })
            .clone()
    };
    let error = dir.0.join(format!("{case}.error"));
    if error.exists() {
        panic!(
            "oracle case {case} failed:\n{}",
            std::fs::read_to_string(error).unwrap()
        );
    }
    let path = dir.0.join(format!("{case}.safetensors"));
    let tensors = Tensor::read_safetensors(&path)
        .unwrap_or_else(|e| panic!("oracle case {case}: no readable output ({e})"));
    // Statics are never dropped: remove each case's file once read, the (then empty) directory stays.
    let _ = std::fs::remove_file(&path);
    Some(Fixture {
        tensors: tensors.into_iter().collect(),
        _dir: None,
    })
}

/// Runs `tests/oracle/<script>` with arbitrary path arguments (scripts that write several files to a
/// directory); panics with the script's output if it fails.
pub fn run_oracle_script(python: &Path, script: &str, args: &[&Path]) {
    let output = Command::new(python)
        .arg(oracle_dir().join(script))
        .args(args)
        .env("SAM3C_ASSETS", assets_dir())
        .output()
        .expect("failed to start the oracle interpreter");
    assert!(
        output.status.success(),
        "oracle {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// As [`assert_close`], with the scale at least `floor`: for tensors that are zero up to rounding (the
/// gradient of an attention key bias), compared against a larger scale of the same computation.
pub fn assert_close_with_floor(
    what: &str,
    ours: &Tensor,
    reference: &Tensor,
    rel: f64,
    floor: f64,
) {
    let scale = reference
        .to_kind(Kind::Double)
        .abs()
        .max()
        .double_value(&[]);
    if reference.numel() > 0 && scale < floor {
        assert_eq!(ours.size(), reference.size(), "{what}: shape");
        let diff = (ours.to_kind(Kind::Double) - reference.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            diff <= rel * floor,
            "{what}: max|diff| = {diff:.3e} > {rel:.1e} * floor ({floor:.3e})"
        );
    } else {
        assert_close(what, ours, reference, rel);
    }
}

/// The reduced configuration every parity case is built from (both sides: the oracle receives it as JSON).
/// Dropout and stochastic depth are 0 so that training mode is deterministic; the grid (8x8 tokens, 4x4
/// windows, a 4x4 pretraining grid tiled to 8x8) exercises windowing, tiling and RoPE interpolation.
pub fn parity_config() -> sam3c_stdlib::arch::image::ImageConfig {
    sam3c_stdlib::arch::image::ImageConfig {
        resolution: 112,
        patch_size: 14,
        pretrain_img_size: 56,
        vit_dim: 32,
        vit_depth: 3,
        vit_heads: 2,
        vit_mlp_ratio: 4.625,
        window_size: 4,
        global_att_blocks: vec![1],
        rope_theta: 10000.0,
        d_model: 32,
        text_width: 32,
        text_heads: 2,
        text_layers: 2,
        text_context_length: 32,
        vocab_size: 49408,
        text_proj_dim: 512,
        geo_layers: 2,
        enc_layers: 2,
        dec_layers: 3,
        heads: 4,
        ffn_dim: 64,
        num_queries: 6,
        scoring_mlp_dim: 48,
        enable_segmentation: true,
        add_sam2_neck: false,
        dropout: 0.0,
        drop_path_rate: 0.0,
    }
}

/// The tensors of `ours` whose distribution differs from a freshly built upstream model's, given the statistics
/// an init oracle writes (`mean.<name>`, `std.<name>`, `numel.<name>`): an upstream constant must be the same
/// constant here; a random tensor of 256 or more elements must have a spread within 25% of upstream's (smaller
/// ones say little about a distribution). Names in `skip` are left out. Returns (tensors compared, failures).
pub fn init_mismatches(
    ours: &HashMap<String, Tensor>,
    stats: &HashMap<String, Tensor>,
    skip: &[&str],
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut names: Vec<&str> = stats
        .keys()
        .filter_map(|k| k.strip_prefix("std."))
        .filter(|k| !skip.contains(k))
        .collect();
    names.sort();
    for key in names {
        let Some(t) = ours.get(key) else {
            failures.push(format!("{key}: not in our model"));
            continue;
        };
        let t = t.to_kind(Kind::Double);
        let (mean, std) = (
            t.mean(Kind::Double).double_value(&[]),
            t.std(true).double_value(&[]),
        );
        let up_std = stats[&format!("std.{key}")].double_value(&[]);
        let up_mean = stats[&format!("mean.{key}")].double_value(&[]);
        let numel = stats[&format!("numel.{key}")].int64_value(&[]);
        compared += 1;
        if numel == 1 {
            continue; // a single draw says nothing about a distribution
        }
        if up_std == 0.0 {
            if std != 0.0 || mean != up_mean {
                failures.push(format!(
                    "{key}: upstream constant {up_mean}, ours mean {mean} std {std}"
                ));
            }
        } else if numel >= 256 && !(0.75..=1.25).contains(&(std / up_std)) {
            failures.push(format!("{key}: std {std:.4} vs upstream {up_std:.4}"));
        }
    }
    (compared, failures)
}
