//! The component catalog. One Rust struct per component; its doc comments are the user documentation
//! (`sam3c doc NAME`), its `#[param]` attributes give defaults (written in .sam3x syntax), ranges and upstream
//! names, and serde gives the runtime its configuration from the checked spec.

pub mod data;
pub mod loss;
pub mod meter;
pub mod model;
pub mod optim;
pub mod stage;
pub mod transforms;

use crate::catalog::{Component, ComponentSig};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Every component of the catalog, in documentation order.
pub fn all() -> &'static [ComponentSig] {
    static ALL: OnceLock<Vec<ComponentSig>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            data::CocoImages::signature(),
            data::YtvisVideos::signature(),
            data::ClipSampler::signature(),
            transforms::FilterCrowds::signature(),
            transforms::BoxNoise::signature(),
            transforms::DecodeMasks::signature(),
            transforms::RandomResize::signature(),
            transforms::Scales::signature(),
            transforms::Resize::signature(),
            transforms::Pad::signature(),
            transforms::HorizontalFlip::signature(),
            transforms::ColorJitter::signature(),
            transforms::FilterEmpty::signature(),
            transforms::Normalize::signature(),
            transforms::MaxObjects::signature(),
            transforms::TextToVisual::signature(),
            model::Sam3Image::signature(),
            model::Sam3Video::signature(),
            model::TrackerPrompts::signature(),
            loss::Sam3Loss::signature(),
            loss::BoxLoss::signature(),
            loss::PresenceLoss::signature(),
            loss::MaskLoss::signature(),
            loss::SemanticSeg::signature(),
            loss::TrackerLoss::signature(),
            loss::Hungarian::signature(),
            loss::OneToMany::signature(),
            optim::AdamW::signature(),
            optim::Group::signature(),
            optim::LayerDecay::signature(),
            optim::ScaleOverride::signature(),
            optim::InverseSqrt::signature(),
            optim::Cosine::signature(),
            optim::Constant::signature(),
            meter::CocoAp::signature(),
            meter::CgF1::signature(),
            meter::JAndF::signature(),
            meter::Hota::signature(),
            meter::Detections::signature(),
            stage::Stage::signature(),
            stage::Evaluation::signature(),
            stage::Experiment::signature(),
            stage::Resources::signature(),
            stage::Slurm::signature(),
        ]
    })
}

/// A component by its name in specs.
pub fn lookup(name: &str) -> Option<&'static ComponentSig> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| all().iter().enumerate().map(|(i, c)| (c.name, i)).collect());
    index.get(name).map(|&i| &all()[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert!(seen.insert(c.name), "duplicate component name {}", c.name);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{} is not snake_case",
                c.name
            );
        }
    }

    #[test]
    fn every_component_and_parameter_is_documented() {
        for c in all() {
            assert!(!c.summary().is_empty(), "{} has no documentation", c.name);
            for p in &c.params {
                assert!(
                    !p.doc.is_empty(),
                    "{}.{} has no documentation",
                    c.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn signatures_carry_types_defaults_and_upstream_names() {
        let pad = lookup("pad").unwrap();
        assert_eq!(
            pad.upstream,
            Some("sam3.train.transforms.basic_for_api.PadToSizeAPI")
        );
        let size = pad.param("size").unwrap();
        assert!(size.positional && size.default.is_none());
        assert_eq!(size.ty.display(), "Pixels");
        let consistent = pad.param("consistent").unwrap();
        assert_eq!(
            (consistent.default, consistent.upstream),
            (Some("false"), Some("consistent_transform"))
        );
        let lr = lookup("adamw").unwrap().param("lr").unwrap();
        assert_eq!(lr.range, Some("0.."));
    }
}
