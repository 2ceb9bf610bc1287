//! Data cleaning: the training examples and contributors that hurt a held-out validation set.
//!
//! A curator holds clean text the adapter should do well on (passages nobody trained on). An
//! example whose influence summed over all of it is most negative is one whose removal would
//! lower the validation loss most: garbled, mislabelled or off-topic contributions. Influence
//! is linear in the query's gradient, so that sum is one scan of the index with the validation
//! set's summed gradient, however many passages it has.
//!
//! The quality bench's planted test reads exactly this (`(e)` in BENCHMARKS.md): with 792
//! validation passages, exact EK-FAC rows find 75–92 % of a corrupted contributor's examples
//! among the 10 % most negative, and 84–97 % summed over the fine-tune's checkpoints
//! ([`CheckpointRows`]: recomputed here, since an index keeps only group sums at earlier
//! checkpoints). The rows of a projected index keep inner products only roughly (45–59 %
//! there), so for a per-example audit build the index with `--projection-dim 0`; the
//! contributors' totals come from the exact group sums either way.

use crate::{
    analyzer::Analyzer,
    attribution::{
        AttributeError, ExampleInfluence, Totals, add_checkpoint_groups, check_index, row_scores,
    },
    data::{Example, Sequence},
    factors::{FactorArgs, Factors, Strategy},
    index::GradientIndex,
    lora::TrainableLora,
    projection::Projector,
};
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One contributor's standing against the validation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContributorAudit {
    /// The contributor.
    pub contributor: Address,
    /// Its training examples.
    pub examples: usize,
    /// How many of them are flagged.
    pub flagged: usize,
    /// Its total influence on the validation set (negative: it hurts).
    pub influence: f64,
}

/// What [`audit`] finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// `ekfac`, `kfac`, `identity` or `datainf`.
    pub method: String,
    /// The index the scores come from.
    pub index_root: B256,
    /// The training manifest's root.
    pub manifest_root: B256,
    /// Validation passages scored.
    pub validation: usize,
    /// Whether the index rows are projected (the example ranking is then approximate).
    pub projected_rows: bool,
    /// Earlier checkpoints whose exact per-example influence was added to the rows' (0: the
    /// index rows alone).
    #[serde(default)]
    pub checkpoint_rows: usize,
    /// The flagged examples: the most negative `share` of them, most negative first.
    pub flagged: Vec<ExampleInfluence>,
    /// Every contributor, the most harmful (lowest total) first.
    pub contributors: Vec<ContributorAudit>,
    /// Where the contributors' totals come from.
    pub totals: Totals,
}

/// How [`audit`] ranks.
#[derive(Debug, Clone)]
pub struct AuditOptions<'a> {
    /// The share of examples to flag, in (0, 1].
    pub share: f64,
    /// Earlier checkpoints at which every example's exact influence is recomputed and added to
    /// the index rows' scores (TracIn's sum over checkpoints, the strongest ranking in the
    /// quality bench).
    pub checkpoint_rows: Option<CheckpointRows<'a>>,
}

/// What recomputing per-example influence at earlier checkpoints needs.
#[derive(Debug, Clone)]
pub struct CheckpointRows<'a> {
    /// The checkpoints' adapters (for instance `Context::earlier_checkpoints`).
    pub adapters: &'a [TrainableLora],
    /// The training sequences, in manifest order.
    pub train: &'a [Sequence],
    /// Damping and batch size of the factors fitted under each (the strategy is the index's).
    pub factor_args: FactorArgs,
}

/// Validation passages per forward/backward pass.
const VALIDATION_BATCH: usize = 16;

/// Scores every training example by its influence summed over `validation` (each scored as a
/// training text), flags the most negative share of them and totals each contributor.
/// `checkpoints` are the index's earlier checkpoints' adapters, as for
/// [`crate::attribution::attribute`]: their group sums add to the totals.
pub fn audit(
    analyzer: &Analyzer<'_>,
    index: &GradientIndex,
    checkpoints: &[TrainableLora],
    examples: &[Example],
    validation: &[Sequence],
    options: &AuditOptions<'_>,
) -> Result<Audit, AttributeError> {
    let header = index.header();
    check_index(index, checkpoints.len(), examples.len())?;
    if validation.is_empty() {
        return Err(AttributeError::Invalid("no validation passages".into()));
    }
    let share = options.share;
    if !(share > 0.0 && share <= 1.0) {
        return Err(AttributeError::Invalid(format!("share {share}: must be in (0, 1]")));
    }
    let rescored = options.checkpoint_rows.as_ref();
    if let Some(c) = rescored {
        if c.train.len() != examples.len() {
            return Err(AttributeError::Mismatch(format!(
                "{} training sequences for {} examples",
                c.train.len(),
                examples.len()
            )));
        }
        if header.params.strategy == Strategy::Datainf {
            return Err(AttributeError::Invalid(
                "checkpoint rows need a K-FAC, EK-FAC or identity index, not DataInf".into(),
            ));
        }
    }
    let adapters = rescored.map_or(&[][..], |c| c.adapters);
    let projector = Projector::new(header.params.projection.clone());
    // The validation set's summed gradient under each adapter it is scored at.
    let summed = |lora: &TrainableLora| {
        analyzer.summed_query_rows(lora, validation, &projector, VALIDATION_BATCH)
    };
    let q = summed(analyzer.lora())?;
    let mut scores = row_scores(index, &q.projected)?;
    let mut group_scores = index.group_scores(&q.full)?;
    for (i, lora) in checkpoints.iter().enumerate() {
        add_checkpoint_groups(index, i, &summed(lora)?.full, &mut group_scores)?;
    }
    if let Some(c) = rescored {
        let args = FactorArgs { strategy: header.params.strategy, ..c.factor_args.clone() };
        for lora in c.adapters {
            let factors = match args.strategy {
                Strategy::Identity => Factors::identity(lora, c.train.len()),
                _ => analyzer.factors_at(lora, c.train, &args)?,
            };
            let q = summed(lora)?.full;
            let at = analyzer.example_scores_at(lora, &factors, c.train, &q, args.batch_size)?;
            scores.iter_mut().zip(at).for_each(|(s, a)| *s += a);
        }
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let n_flagged = ((share * scores.len() as f64).round() as usize).clamp(1, scores.len());
    order.truncate(n_flagged);
    let mut by_contributor: BTreeMap<Address, ContributorAudit> = BTreeMap::new();
    for (e, s) in examples.iter().zip(&scores) {
        let c = by_contributor.entry(e.contributor).or_insert(ContributorAudit {
            contributor: e.contributor,
            examples: 0,
            flagged: 0,
            influence: 0.0,
        });
        c.examples += 1;
        if group_scores.is_none() {
            c.influence += f64::from(*s);
        }
    }
    let totals = match (index.groups(), &group_scores) {
        (Some(keys), Some(sums)) => {
            for (g, s) in keys.iter().zip(sums) {
                if let Some(c) = by_contributor.get_mut(&g.contributor) {
                    c.influence += f64::from(*s);
                }
            }
            if checkpoints.is_empty() {
                Totals::ExactGroupSums
            } else {
                Totals::CheckpointGroupSums
            }
        }
        _ => Totals::ExampleRows,
    };
    for &i in &order {
        if let Some(c) = by_contributor.get_mut(&examples[i].contributor) {
            c.flagged += 1;
        }
    }
    let flagged = order.into_iter().map(|i| ExampleInfluence::of(examples, i, scores[i])).collect();
    let mut contributors: Vec<ContributorAudit> = by_contributor.into_values().collect();
    contributors.sort_by(|a, b| {
        a.influence.total_cmp(&b.influence).then(a.contributor.cmp(&b.contributor))
    });
    Ok(Audit {
        method: header.params.strategy.name().to_owned(),
        index_root: header.root,
        manifest_root: header.params.manifest_root,
        validation: validation.len(),
        projected_rows: header.params.projection.out_dims != header.params.projection.block_dims,
        checkpoint_rows: adapters.len(),
        flagged,
        contributors,
        totals,
    })
}
