//! "Did you mean": the candidates closest to a misspelled name (normalized Damerau-Levenshtein, as Nickel does,
//! with a case-insensitive exact match first).

const MIN_SIMILARITY: f64 = 0.6;

/// The best candidate for `name`, if any is close enough.
pub fn best<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    ranked(name, candidates).into_iter().next()
}

/// Candidates close enough to `name`, best first.
pub fn ranked<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(f64, &'a str)> = candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| {
            let score = if c.to_lowercase() == lower {
                2.0
            } else {
                strsim::normalized_damerau_levenshtein(&lower, &c.to_lowercase())
            };
            (score >= MIN_SIMILARITY).then_some((score, c))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, c)| c).collect()
}

/// ", did you mean `x`?" or nothing, for the end of a message.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    best(name, candidates).map(|b| format!("did you mean `{b}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_far_ones_are_not() {
        let c = ["dataset", "model", "stage", "optimizer"];
        assert_eq!(best("datset", c), Some("dataset"));
        assert_eq!(best("Stage", c), Some("stage"));
        assert_eq!(best("xyz", c), None);
    }
}
