//! From per-example influence to who gets paid: per contributor and per Datanet, in basis
//! points.
//!
//! A contributor's influence on an inference is the sum of its examples' influences (the
//! first-order effect of removing all of them, which is what the LDS benchmark checks). Only
//! positive totals are paid: each positive total over the sum of positive totals, in basis
//! points that add up to exactly 10,000 (largest remainder). The top `k` are listed by name and
//! the rest is one figure, as receipts carry them.
//!
//! The totals come from the index's exact group sums where it keeps them (a projected index
//! does: see [`crate::index`]), else from the per-example rows.

use crate::{
    data::{Example, query_sequence},
    factors::Strategy,
    index::{GradientIndex, GroupKey, IndexError},
    projection::Projector,
};
use alloy_primitives::{Address, B256, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// All basis points.
pub const BPS: u32 = 10_000;

/// One party's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share<K> {
    /// Who (a contributor's address or a Datanet's name).
    pub id: K,
    /// Its summed influence.
    pub influence: f64,
    /// Its weight in basis points.
    pub bps: u16,
}

/// Shares of the top `k` and what the rest gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights<K> {
    /// The top `k` by weight (then by id), each with positive basis points.
    pub top: Vec<Share<K>>,
    /// Basis points of everyone else with positive influence.
    pub rest_bps: u16,
    /// How many parties share `rest_bps`.
    pub rest_count: usize,
}

/// Normalises positive totals into basis points adding up to 10,000 (largest remainder, ties
/// by id), keeping the top `k`. No positive total: no weights at all.
pub fn weights<K: Ord + Clone>(totals: &BTreeMap<K, f64>, k: usize) -> Weights<K> {
    let positive: Vec<(&K, f64)> =
        totals.iter().filter(|(_, v)| v.is_finite() && **v > 0.0).map(|(k, v)| (k, *v)).collect();
    let sum: f64 = positive.iter().map(|(_, v)| v).sum();
    if positive.is_empty() || sum <= 0.0 {
        return Weights { top: vec![], rest_bps: 0, rest_count: 0 };
    }
    let mut parts: Vec<(&K, f64, u32, f64)> = positive
        .iter()
        .map(|(id, v)| {
            let exact = v / sum * f64::from(BPS);
            (*id, *v, exact.floor() as u32, exact - exact.floor())
        })
        .collect();
    let given: u32 = parts.iter().map(|p| p.2).sum();
    let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
    by_remainder
        .sort_by(|&a, &b| parts[b].3.total_cmp(&parts[a].3).then(parts[a].0.cmp(parts[b].0)));
    for &i in by_remainder.iter().take((BPS - given) as usize) {
        parts[i].2 += 1;
    }
    parts.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.total_cmp(&a.1)).then(a.0.cmp(b.0)));
    let top: Vec<Share<K>> = parts
        .iter()
        .take(k)
        .filter(|p| p.2 > 0)
        .map(|p| Share { id: p.0.clone(), influence: p.1, bps: p.2 as u16 })
        .collect();
    let top_bps: u32 = top.iter().map(|s| u32::from(s.bps)).sum();
    let rest_count = parts.iter().skip(top.len()).filter(|p| p.2 > 0).count();
    Weights { top, rest_bps: (BPS - top_bps) as u16, rest_count }
}

/// One training example's influence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleInfluence {
    /// Row in the index (= manifest entry).
    pub index: usize,
    /// Content hash.
    pub hash: B256,
    /// Contributor.
    pub contributor: Address,
    /// Datanet.
    pub datanet: String,
    /// Influence (positive: lowers the completion's loss).
    pub score: f64,
}

impl ExampleInfluence {
    /// Example `i` of `examples` with its score.
    pub fn of(examples: &[Example], i: usize, score: f32) -> Self {
        let e = &examples[i];
        Self {
            index: i,
            hash: e.hash,
            contributor: e.contributor,
            datanet: e.datanet.clone(),
            score: f64::from(score),
        }
    }
}

/// An inference attributed to the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// `ekfac`, `kfac`, `identity` (gradient dot product) or `datainf`.
    pub method: String,
    /// The receipt's `methodVersion`.
    pub method_version: u32,
    /// The index root the scores come from.
    pub index_root: B256,
    /// The training manifest's root.
    pub manifest_root: B256,
    /// keccak256 of the completion text.
    pub output_hash: B256,
    /// The most influential examples, both signs, by |score|.
    pub top_examples: Vec<ExampleInfluence>,
    /// Per contributor.
    pub contributors: Weights<Address>,
    /// Per Datanet.
    pub datanets: Weights<String>,
    /// Where the per-contributor and per-Datanet totals come from.
    #[serde(default)]
    pub totals: Totals,
    /// Time spent scoring against the index.
    pub scan_ms: f64,
}

/// The source of an [`Attribution`]'s totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Totals {
    /// The per-example rows summed (exact when the rows are not projected).
    #[default]
    ExampleRows,
    /// The index's exact (unprojected) per-group sums.
    ExactGroupSums,
    /// The index's exact per-group sums at the final adapter and at each earlier checkpoint
    /// it keeps, added (TracIn's sum over checkpoints).
    CheckpointGroupSums,
}

/// Turns one score per training example into an [`Attribution`]; the totals come from
/// `groups` (each group's exact score) where given, else from the examples' scores.
#[allow(clippy::too_many_arguments)]
pub fn aggregate(
    scores: &[f32],
    examples: &[Example],
    groups: Option<(&[GroupKey], &[f32])>,
    strategy: Strategy,
    index_root: B256,
    manifest_root: B256,
    output_hash: B256,
    top_k: usize,
    scan_ms: f64,
) -> Attribution {
    let mut by_contributor: BTreeMap<Address, f64> = BTreeMap::new();
    let mut by_datanet: BTreeMap<String, f64> = BTreeMap::new();
    match groups {
        Some((keys, group_scores)) => {
            for (s, g) in group_scores.iter().zip(keys) {
                *by_contributor.entry(g.contributor).or_default() += f64::from(*s);
                *by_datanet.entry(g.datanet.clone()).or_default() += f64::from(*s);
            }
        }
        None => {
            for (s, e) in scores.iter().zip(examples) {
                *by_contributor.entry(e.contributor).or_default() += f64::from(*s);
                *by_datanet.entry(e.datanet.clone()).or_default() += f64::from(*s);
            }
        }
    }
    let mut order: Vec<usize> = (0..scores.len().min(examples.len())).collect();
    let k = top_k.min(order.len());
    if k > 0 {
        order.select_nth_unstable_by(k - 1, |&a, &b| scores[b].abs().total_cmp(&scores[a].abs()));
        order.truncate(k);
        order.sort_by(|&a, &b| scores[b].abs().total_cmp(&scores[a].abs()).then(a.cmp(&b)));
    } else {
        order.clear();
    }
    let top_examples =
        order.into_iter().map(|i| ExampleInfluence::of(examples, i, scores[i])).collect();
    Attribution {
        method: strategy.name().to_owned(),
        method_version: strategy.method_version(),
        index_root,
        manifest_root,
        output_hash,
        top_examples,
        contributors: weights(&by_contributor, top_k),
        datanets: weights(&by_datanet, top_k),
        totals: if groups.is_some() { Totals::ExactGroupSums } else { Totals::ExampleRows },
        scan_ms,
    }
}

/// Errors attributing an inference.
#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    /// The analyzer failed.
    #[error(transparent)]
    Analyzer(#[from] crate::analyzer::AnalyzerError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// The prompt or completion could not be tokenized.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The index does not belong to this run.
    #[error("{0}")]
    Mismatch(String),
    /// An argument out of range (an empty validation set, a share outside (0, 1]).
    #[error("{0}")]
    Invalid(String),
}

/// Refuses an index whose rows are not the run's `examples`, or that keeps group sums at
/// another number of checkpoints than the adapters given.
pub(crate) fn check_index(
    index: &GradientIndex,
    checkpoints: usize,
    examples: usize,
) -> Result<(), AttributeError> {
    let rows = index.header().rows;
    if rows != examples {
        return Err(AttributeError::Mismatch(format!(
            "the index has {rows} rows but the manifest {examples} examples"
        )));
    }
    if checkpoints != index.checkpoints().len() {
        return Err(AttributeError::Mismatch(format!(
            "the index keeps sums at {} checkpoints, {checkpoints} adapters given",
            index.checkpoints().len()
        )));
    }
    Ok(())
}

/// Every row's score for a query gradient projected as the rows (DataInf's closed form where
/// the index is DataInf's).
pub(crate) fn row_scores(index: &GradientIndex, projected: &[f32]) -> Result<Vec<f32>, IndexError> {
    let params = &index.header().params;
    if params.strategy == Strategy::Datainf {
        index.scores_datainf(projected, &params.datainf_damping)
    } else {
        index.scores(projected)
    }
}

/// Adds checkpoint `i`'s group scores for the query gradient `q` (taken at that checkpoint's
/// adapter) to `totals`, where the index keeps group sums.
pub(crate) fn add_checkpoint_groups(
    index: &GradientIndex,
    i: usize,
    q: &[f32],
    totals: &mut Option<Vec<f32>>,
) -> Result<(), IndexError> {
    let at = index.checkpoint_group_scores(i, q)?;
    if let Some(total) = totals.as_mut() {
        total.iter_mut().zip(at).for_each(|(t, s)| *t += s);
    }
    Ok(())
}

/// Attributes one inference (`prompt`, `completion`) against `index`; `checkpoints` are the
/// adapters of the earlier checkpoints the index keeps group sums for, in its order (see
/// `Context::index_checkpoints`), none for an index without them.
#[allow(clippy::too_many_arguments)]
pub fn attribute(
    analyzer: &crate::analyzer::Analyzer<'_>,
    index: &GradientIndex,
    checkpoints: &[crate::lora::TrainableLora],
    examples: &[Example],
    tokenizer: &tokenizers::Tokenizer,
    prompt: &str,
    completion: &str,
    max_len: usize,
    top_k: usize,
) -> Result<Attribution, AttributeError> {
    let header = index.header();
    check_index(index, checkpoints.len(), examples.len())?;
    let seq = query_sequence(tokenizer, prompt, completion, max_len)?;
    let projector = Projector::new(header.params.projection.clone());
    let q = analyzer.query_rows(&seq, &projector)?;
    let start = std::time::Instant::now();
    let scores = row_scores(index, &q.projected)?;
    let mut group_scores = index.group_scores(&q.full)?;
    let mut scan_ms = start.elapsed().as_secs_f64() * 1e3;
    for (i, lora) in checkpoints.iter().enumerate() {
        let q = analyzer.query_gradient_at(lora, &seq)?;
        let start = std::time::Instant::now();
        add_checkpoint_groups(index, i, &q, &mut group_scores)?;
        scan_ms += start.elapsed().as_secs_f64() * 1e3;
    }
    let mut attribution = aggregate(
        &scores,
        examples,
        index.groups().zip(group_scores.as_deref()),
        header.params.strategy,
        header.root,
        header.params.manifest_root,
        keccak256(completion.as_bytes()),
        top_k,
        scan_ms,
    );
    if !checkpoints.is_empty() {
        attribution.totals = Totals::CheckpointGroupSums;
    }
    Ok(attribution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up_and_ignore_negative_totals() {
        let totals: BTreeMap<&str, f64> =
            [("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", -5.0), ("e", 0.0)].into_iter().collect();
        let w = weights(&totals, 2);
        assert_eq!(w.top.len(), 2);
        let sum: u32 = w.top.iter().map(|s| u32::from(s.bps)).sum::<u32>() + u32::from(w.rest_bps);
        assert_eq!(sum, BPS);
        assert_eq!((w.top[0].id, w.top[0].bps, w.top[1].bps, w.rest_bps), ("a", 3334, 3333, 3333));
        assert_eq!(w.rest_count, 1);
        let none: BTreeMap<&str, f64> = [("a", -1.0)].into_iter().collect();
        assert_eq!(weights(&none, 3), Weights { top: vec![], rest_bps: 0, rest_count: 0 });
        let all = weights(&totals, 10);
        assert_eq!(all.rest_bps, 0);
        assert_eq!(all.top.iter().map(|s| u32::from(s.bps)).sum::<u32>(), BPS);
    }
}
