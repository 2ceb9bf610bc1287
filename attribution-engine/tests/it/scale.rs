//! The index at 1,000,000 examples: written in shards, opened with every hash checked, and a
//! planted row found first.

use alloy_primitives::B256;
use attribution_engine::{
    Strategy,
    index::{GradientIndex, IndexParams, IndexWriter},
    projection::ProjectionSpec,
};
use rand::{Rng, SeedableRng};

#[test]
fn a_million_row_index_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (1_000_000usize, 16usize);
    let params = IndexParams {
        strategy: Strategy::Ekfac,
        factors: "synthetic".into(),
        projection: ProjectionSpec::new(0, vec![dim], 0),
        blocks: vec![],
        datainf_damping: vec![],
        fingerprint: B256::repeat_byte(3),
        manifest_root: B256::repeat_byte(4),
        shard_rows: 1 << 18,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let query: Vec<f32> = (0..dim).map(|_| rng.random::<f32>() - 0.5).collect();
    let planted = 777_777;
    let mut w = IndexWriter::create(dir.path(), params, false).unwrap();
    let mut chunk = Vec::with_capacity(10_000 * dim);
    for start in (0..n).step_by(10_000) {
        chunk.clear();
        for i in start..start + 10_000 {
            if i == planted {
                chunk.extend(query.iter().map(|v| v * 10.0));
            } else {
                chunk.extend((0..dim).map(|_| rng.random::<f32>() - 0.5));
            }
        }
        w.push(&chunk).unwrap();
    }
    let header = w.finish().unwrap();
    assert_eq!((header.rows, header.shards.len()), (n, 4));
    let index = GradientIndex::open(dir.path(), true).unwrap();
    assert_eq!(index.disk_bytes(), n * (2 * dim + 4) + 4 * 24);
    let start = std::time::Instant::now();
    let scores = index.scores(&query).unwrap();
    let best = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
    eprintln!("1M x {dim}: scan {:.0} ms (debug build)", start.elapsed().as_secs_f64() * 1e3);
    assert_eq!(best, Some(planted));
}
