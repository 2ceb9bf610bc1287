//! What the quality benchmark measures, and its lexical baseline: Spearman correlation, the
//! linear datamodeling score, and BM25.

use std::collections::HashMap;

/// Ranks with ties averaged (1-based).
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// Spearman's rank correlation.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// The linear datamodeling score (Park et al. 2023, TRAK): for each query, the Spearman
/// correlation over the retrained subsets between the predicted effect `Σ_{i∈S} τ(q, i)` and
/// the measured one; averaged over queries.
///
/// - `scores[q][i]`: influence of training unit `i` on query `q` (positive: lowers its loss);
/// - `subsets[m]`: which units retrain `m` kept;
/// - `losses[m][q]`: query `q`'s loss after retrain `m`.
///
/// Returns the mean and the per-query correlations. A lower loss is a higher prediction, so
/// the predicted loss is `−Σ τ`.
pub fn lds(scores: &[Vec<f64>], subsets: &[Vec<bool>], losses: &[Vec<f64>]) -> (f64, Vec<f64>) {
    let per_query: Vec<f64> = scores
        .iter()
        .enumerate()
        .map(|(q, row)| {
            let predicted: Vec<f64> = subsets
                .iter()
                .map(|s| -s.iter().zip(row).filter(|(k, _)| **k).map(|(_, v)| v).sum::<f64>())
                .collect();
            let actual: Vec<f64> = losses.iter().map(|l| l[q]).collect();
            spearman(&predicted, &actual)
        })
        .collect();
    let mean = per_query.iter().sum::<f64>() / per_query.len().max(1) as f64;
    (mean, per_query)
}

/// Lower-cased alphanumeric words (apostrophes kept inside words).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Okapi BM25 over a fixed document set (`k1 = 1.2`, `b = 0.75`).
#[derive(Debug)]
pub struct Bm25 {
    docs: Vec<HashMap<String, f64>>,
    lens: Vec<f64>,
    avg_len: f64,
    df: HashMap<String, f64>,
}

impl Bm25 {
    /// Indexes the documents.
    pub fn new<S: AsRef<str>>(docs: &[S]) -> Self {
        let mut df: HashMap<String, f64> = HashMap::new();
        let mut tfs = Vec::with_capacity(docs.len());
        let mut lens = Vec::with_capacity(docs.len());
        for d in docs {
            let w = words(d.as_ref());
            lens.push(w.len() as f64);
            let mut tf: HashMap<String, f64> = HashMap::new();
            for t in w {
                *tf.entry(t).or_default() += 1.0;
            }
            for t in tf.keys() {
                *df.entry(t.clone()).or_default() += 1.0;
            }
            tfs.push(tf);
        }
        let avg_len = lens.iter().sum::<f64>() / lens.len().max(1) as f64;
        Self { docs: tfs, lens, avg_len, df }
    }

    /// The score of every document for `query`.
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let (k1, b) = (1.2, 0.75);
        let n = self.docs.len() as f64;
        let terms = words(query);
        self.docs
            .iter()
            .zip(&self.lens)
            .map(|(tf, len)| {
                terms
                    .iter()
                    .map(|t| {
                        let f = tf.get(t).copied().unwrap_or(0.0);
                        if f == 0.0 {
                            return 0.0;
                        }
                        let df = self.df.get(t).copied().unwrap_or(0.0);
                        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                        idf * f * (k1 + 1.0)
                            / (f + k1 * (1.0 - b + b * len / self.avg_len.max(1e-9)))
                    })
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_lds_and_bm25_behave() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 1.0]), [4.0, 1.5, 3.0, 1.5]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 90.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Unit 0 helps query 0 (loss lower when kept): a perfect datamodel.
        let scores = vec![vec![1.0, 0.1]];
        let subsets =
            vec![vec![true, false], vec![false, true], vec![true, true], vec![false, false]];
        let losses = vec![vec![1.0], vec![1.9], vec![0.9], vec![2.0]];
        let (mean, _) = lds(&scores, &subsets, &losses);
        assert!((mean - 1.0).abs() < 1e-12, "{mean}");
        let bm = Bm25::new(&["the king is dead", "long live the king", "a horse a horse"]);
        let s = bm.scores("horse");
        assert!(s[2] > 0.0 && s[0] == 0.0 && s[1] == 0.0);
        assert_eq!(words("Ham. 'Tis NOW struck"), ["ham", "tis", "now", "struck"]);
    }
}
