//! Copying a checkpoint into a model's variables: strict by name, shape and dtype.

use super::{CheckpointError, KeyMap, StateDict};
use std::collections::{BTreeMap, HashMap};
use tch::nn::VarStore;
use tch::Tensor;

/// Anything that names tensors: a VarStore, a list of (name, tensor), a map.
pub trait NamedTensors {
    /// The tensors, sharing storage with the originals (copying into them changes the model).
    fn named_tensors(&self) -> Vec<(String, Tensor)>;
}

impl NamedTensors for VarStore {
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.variables().into_iter().collect()
    }
}

impl NamedTensors for [(String, Tensor)] {
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }
}

impl NamedTensors for Vec<(String, Tensor)> {
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.as_slice().named_tensors()
    }
}

impl NamedTensors for HashMap<String, Tensor> {
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }
}

impl NamedTensors for BTreeMap<String, Tensor> {
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }
}

/// What a load did besides copying.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Tensors copied into the model.
    pub loaded: usize,
    /// Checkpoint RoPE tables the model recomputes (`*.freqs_cis`, complex): skipped.
    pub recomputed: Vec<String>,
    /// Checkpoint names the key map does not select (e.g. `tracker.*` when loading the image model).
    pub not_selected: Vec<String>,
    /// Model names the checkpoint lacks (non-strict loading only).
    pub missing: Vec<String>,
    /// Selected checkpoint names the model lacks (non-strict loading only).
    pub unexpected: Vec<String>,
}

/// Every way a checkpoint failed to fit a model.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Mismatch {
    pub strict: bool,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// (model name, model shape, checkpoint shape)
    pub wrong_shape: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// (model name, model dtype, checkpoint dtype)
    pub wrong_dtype: Vec<(String, String, String)>,
    /// Model names more than one checkpoint name maps to.
    pub duplicates: Vec<String>,
}

impl Mismatch {
    fn is_error(&self) -> bool {
        !self.wrong_shape.is_empty()
            || !self.wrong_dtype.is_empty()
            || !self.duplicates.is_empty()
            || (self.strict && (!self.missing.is_empty() || !self.unexpected.is_empty()))
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the checkpoint does not fit the model{}:",
            if self.strict { " (strict loading)" } else { "" }
        )?;
        let list = |f: &mut std::fmt::Formatter<'_>, what: &str, names: &[String]| {
            if names.is_empty() {
                return Ok(());
            }
            writeln!(f, "  {} {what}:", names.len())?;
            names.iter().try_for_each(|n| writeln!(f, "    {n}"))
        };
        if self.strict {
            list(
                f,
                "missing (in the model, not in the checkpoint)",
                &self.missing,
            )?;
            list(
                f,
                "unexpected (in the checkpoint, not in the model)",
                &self.unexpected,
            )?;
        }
        list(
            f,
            "given by more than one checkpoint name",
            &self.duplicates,
        )?;
        if !self.wrong_shape.is_empty() {
            writeln!(f, "  {} with the wrong shape:", self.wrong_shape.len())?;
            for (n, model, ckpt) in &self.wrong_shape {
                writeln!(f, "    {n}: model {model:?}, checkpoint {ckpt:?}")?;
            }
        }
        if !self.wrong_dtype.is_empty() {
            writeln!(
                f,
                "  {} with the wrong dtype (never converted silently):",
                self.wrong_dtype.len()
            )?;
            for (n, model, ckpt) in &self.wrong_dtype {
                writeln!(f, "    {n}: model {model}, checkpoint {ckpt}")?;
            }
        }
        Ok(())
    }
}

fn dtype_name(kind: tch::Kind) -> String {
    super::DType::from_kind(kind).map_or_else(|| format!("{kind:?}"), |d| d.name().to_string())
}

/// A RoPE table the models recompute instead of loading.
fn is_recomputed_buffer(name: &str, complex: bool) -> bool {
    complex && (name == "freqs_cis" || name.ends_with(".freqs_cis"))
}

/// Copies the checkpoint's tensors into `target`'s tensors of the same (mapped) names, on their devices.
/// Everything is checked before anything is copied: with `strict`, a missing or unexpected name is an error;
/// a wrong shape or dtype always is; all problems are listed in one [`CheckpointError::Mismatch`].
pub fn load_into<T: NamedTensors + ?Sized>(
    target: &T,
    sd: &StateDict,
    map: &KeyMap,
    strict: bool,
) -> Result<LoadReport, CheckpointError> {
    let vars: HashMap<String, Tensor> = target.named_tensors().into_iter().collect();
    let mut report = LoadReport::default();
    let mut problems = Mismatch {
        strict,
        ..Default::default()
    };
    let mut plan = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for entry in sd.entries() {
        let Some(name) = map.map(&entry.name) else {
            report.not_selected.push(entry.name.clone());
            continue;
        };
        if let Some(first) = seen.insert(name.clone(), entry.name.clone()) {
            problems
                .duplicates
                .push(format!("{name} (from `{first}` and `{}`)", entry.name));
            continue;
        }
        let Some(var) = vars.get(&name) else {
            if is_recomputed_buffer(&name, entry.dtype.is_complex()) {
                report.recomputed.push(entry.name.clone());
            } else {
                problems.unexpected.push(name);
            }
            continue;
        };
        let (var_shape, var_kind) = (var.size(), var.kind());
        if var_shape != entry.shape {
            problems
                .wrong_shape
                .push((name, var_shape, entry.shape.clone()));
        } else if Some(entry.dtype) != super::DType::from_kind(var_kind) {
            problems
                .wrong_dtype
                .push((name, dtype_name(var_kind), entry.dtype.name().to_string()));
        } else {
            plan.push((entry, var));
        }
    }
    problems.missing = vars
        .keys()
        .filter(|n| !seen.contains_key(*n))
        .cloned()
        .collect();
    problems.missing.sort();
    if problems.is_error() {
        return Err(CheckpointError::Mismatch(Box::new(problems)));
    }
    report.missing = problems.missing;
    report.unexpected = problems.unexpected;
    for (entry, var) in plan {
        let src = entry.to_tensor()?;
        let copied = tch::no_grad(|| {
            let mut var = var.shallow_clone();
            var.f_copy_(&src.to_device(var.device()))
        });
        copied.map_err(|e| CheckpointError::Tensor {
            name: entry.name.clone(),
            reason: e.to_string(),
        })?;
        report.loaded += 1;
    }
    Ok(report)
}
