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

/// Area under the ROC curve of `scores` for the rows with a truth value: the probability
/// that a random positive scores above a random negative, ties counting half
/// (Mann–Whitney U). `None` without both classes.
pub fn roc_auc(scores: &[f64], truth: &[Option<bool>]) -> Option<f64> {
    let mut v: Vec<(f64, bool)> = scores
        .iter()
        .zip(truth)
        .filter_map(|(&s, t)| t.map(|t| (s, t)))
        .collect();
    let pos = v.iter().filter(|x| x.1).count();
    let neg = v.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg * v[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// Share of positives among the k highest-scoring rows, k = the number of positives.
/// Ties at the cut are broken by row order, as a stable sort does.
pub fn precision_at_k(scores: &[f64], truth: &[Option<bool>]) -> Option<f64> {
    let mut v: Vec<(f64, bool)> = scores
        .iter()
        .zip(truth)
        .filter_map(|(&s, t)| t.map(|t| (s, t)))
        .collect();
    let k = v.iter().filter(|x| x.1).count();
    if k == 0 {
        return None;
    }
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    Some(v[..k].iter().filter(|x| x.1).count() as f64 / k as f64)
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
