//! Results as a flat, ordered map of metric name -> value, with the upstream key names.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Metric values in the order the reference reports them, serialized as a flat JSON object
/// (`{"coco_eval_bbox_AP": 0.41, ...}`), ready for TensorBoard scalars or a JSON file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricValues(pub Vec<(String, f64)>);

impl MetricValues {
    pub fn new() -> MetricValues {
        MetricValues(Vec::new())
    }

    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.0.push((name.into(), value));
    }

    pub fn extend(&mut self, other: MetricValues) {
        self.0.extend(other.0);
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for MetricValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            // JSON has no NaN: a metric that is undefined (e.g. J&F without ground truth) becomes null.
            if value.is_finite() {
                map.serialize_entry(name, value)?;
            } else {
                map.serialize_entry(name, &Option::<f64>::None)?;
            }
        }
        map.end()
    }
}
