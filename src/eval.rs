//! How well scores separate labelled attacks from benign traffic: ROC-AUC and precision at
//! k, as the seed notebook measured them (positives: label starting with "Malicious";
//! rows labelled "Background" left out).

/// Ground truth per row: `Some(true)` attack, `Some(false)` benign, `None` left out.
pub fn truth_from_label(label: Option<&str>) -> Option<bool> {
    let l = label?.trim().to_ascii_lowercase();
    if l.starts_with("background") {
        None
    } else {
        Some(l.starts_with("malicious"))
    }
}

/// Ground truth of the given frame rows from the text column `label_column` (every row
/// `None` if the log has no such column).
pub fn truth(
    frame: &polars::prelude::DataFrame,
    label_column: &str,
    rows: &[u32],
) -> Vec<Option<bool>> {
    let labels = crate::filter::string_values(frame, label_column);
    rows.iter()
        .map(|&r| truth_from_label(labels.get(r as usize).copied().flatten()))
        .collect()
}

use rayon::prelude::*;

/// Area under the ROC curve of `scores` for the rows with a truth value: the probability
/// that a random positive scores above a random negative, ties counting half
/// (Mann–Whitney U). `None` without both classes.
pub fn roc_auc(scores: &[f64], truth: &[Option<bool>]) -> Option<f64> {
    auc_and_precision(scores, truth).0
}

/// Share of positives among the k highest-scoring rows, k = the number of positives.
/// Ties at the cut are broken by row order, as a stable sort does.
pub fn precision_at_k(scores: &[f64], truth: &[Option<bool>]) -> Option<f64> {
    auc_and_precision(scores, truth).1
}

/// [`roc_auc`] and [`precision_at_k`] from one ordering of the rows with a truth value
/// (their row numbers, 4 bytes a row, sorted in place).
pub fn auc_and_precision(scores: &[f64], truth: &[Option<bool>]) -> (Option<f64>, Option<f64>) {
    // The rows with a truth value, highest score first, ties by row (a stable sort's
    // order): 4 bytes a row, sorted in place.
    let mut v: Vec<u32> = (0..scores.len().min(truth.len()) as u32)
        .filter(|&i| truth[i as usize].is_some())
        .collect();
    let is_pos = |i: u32| truth[i as usize] == Some(true);
    let pos = v.iter().filter(|&&i| is_pos(i)).count();
    let neg = v.len() - pos;
    if pos == 0 {
        return (None, None);
    }
    v.par_sort_unstable_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    let precision = v[..pos].iter().filter(|&&i| is_pos(i)).count() as f64 / pos as f64;
    if neg == 0 {
        return (None, Some(precision));
    }
    // Ranks from the lowest (1) up, equal scores sharing their mean rank; the sum of the
    // positives' ranks is exact (integers and halves far below 2^53) in any order.
    let n = v.len();
    let score = |k: usize| scores[v[k] as usize];
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && score(j + 1) == score(i) {
            j += 1;
        }
        // Positions i..=j from the top are ranks n-j..=n-i from the bottom.
        let avg = ((n - j) + (n - i)) as f64 / 2.0;
        rank_sum += avg * v[i..=j].iter().filter(|&&k| is_pos(k)).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    (Some(u / (pos as f64 * neg as f64)), Some(precision))
}

/// Rows above which each detector's evaluation in the terminal UI is made on a seeded
/// sample of this many rows (the ensemble's is made on every row). A detector that keeps
/// no scores scores its rows again for it, and on a uniform sample of a million rows the
/// standard error of a ROC-AUC is at most about 0.5·√(1/P + 1/N) for P malicious and N
/// other sampled rows (Hanley and McNeil's bound): under 0.003 once each class has
/// 30,000 of them, below what the Overview's three decimals can tell apart from a
/// ranking's own ties, at a tenth of the scoring of a 10M-row log.
pub const DETECTOR_SAMPLE: usize = 1_000_000;

/// A seeded uniform sample of `limit` of the rows `0..n`, ascending; `None` when `n` is
/// not above `limit` (every row is used).
pub fn sample_rows(n: usize, limit: usize) -> Option<Vec<usize>> {
    use rand::SeedableRng;
    if n <= limit {
        return None;
    }
    // Any fixed seed: the same rows each time the same log is evaluated.
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x6576_616c);
    let mut at = rand::seq::index::sample(&mut rng, n, limit).into_vec();
    at.sort_unstable();
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_closed_forms() {
        let t = [Some(false), Some(false), Some(true), Some(true)];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &t), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &t), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &t), Some(0.5));
        // One inversion out of four pairs.
        assert_eq!(roc_auc(&[0.1, 0.6, 0.5, 0.9], &t), Some(0.75));
        assert_eq!(roc_auc(&[1.0, 2.0], &[Some(true), Some(true)]), None);
        // Rows without truth are left out.
        assert_eq!(
            roc_auc(&[0.1, 9.0, 0.8], &[Some(false), None, Some(true)]),
            Some(1.0)
        );
    }

    #[test]
    fn precision_closed_forms() {
        let t = [Some(false), Some(true), Some(true), Some(false)];
        assert_eq!(precision_at_k(&[0.1, 0.9, 0.8, 0.2], &t), Some(1.0));
        assert_eq!(precision_at_k(&[0.9, 0.8, 0.1, 0.2], &t), Some(0.5));
    }

    /// On many ties and rows without truth, the one ordering gives the definitions'
    /// values: the share of positive-negative pairs in order (ties half), and the
    /// positives among the top k of a stable sort.
    #[test]
    fn auc_and_precision_match_their_definitions_with_ties() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for _ in 0..20 {
            let n = 300;
            let scores: Vec<f64> = (0..n).map(|_| f64::from(rng.gen_range(0..12u8))).collect();
            let truth: Vec<Option<bool>> = (0..n)
                .map(|_| match rng.gen_range(0..5u8) {
                    0 => None,
                    1 | 2 => Some(true),
                    _ => Some(false),
                })
                .collect();
            let (mut pairs, mut wins) = (0.0, 0.0);
            for i in 0..n {
                for j in 0..n {
                    if truth[i] == Some(true) && truth[j] == Some(false) {
                        pairs += 1.0;
                        wins += match scores[i].total_cmp(&scores[j]) {
                            std::cmp::Ordering::Greater => 1.0,
                            std::cmp::Ordering::Equal => 0.5,
                            std::cmp::Ordering::Less => 0.0,
                        };
                    }
                }
            }
            let auc = roc_auc(&scores, &truth).unwrap();
            assert!(
                (auc - wins / pairs).abs() < 1e-12,
                "{auc} vs {}",
                wins / pairs
            );
            let mut order: Vec<usize> = (0..n).filter(|&i| truth[i].is_some()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let k = truth.iter().filter(|t| **t == Some(true)).count();
            let hits = order[..k]
                .iter()
                .filter(|&&i| truth[i] == Some(true))
                .count();
            assert_eq!(
                precision_at_k(&scores, &truth),
                Some(hits as f64 / k as f64)
            );
        }
    }

    #[test]
    fn labels() {
        assert_eq!(truth_from_label(Some("Malicious")), Some(true));
        assert_eq!(
            truth_from_label(Some("malicious   PartOfAHorizontalPortScan")),
            Some(true)
        );
        assert_eq!(truth_from_label(Some("Benign")), Some(false));
        assert_eq!(truth_from_label(Some("Background")), None);
        assert_eq!(truth_from_label(None), None);
    }
}
