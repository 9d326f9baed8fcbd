//! Judging a detector against labelled outliers: ROC-AUC, and the CSV shape
//! the labelled sets are kept in.

use ndarray::Array2;

/// The area under the ROC curve of `scores` (higher = more anomalous) against
/// `labels` (`true` = anomaly): the probability that a random anomaly scores
/// above a random inlier, ties counting half. `None` without both classes or
/// with lengths that differ.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Mann–Whitney: the positives' rank sum, tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_positives = order[i..=j].iter().filter(|k| labels[**k]).count();
        rank_sum += mean_rank * tied_positives as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Parses labelled rows: numbers separated by commas, the last one the
/// label (1 = anomaly, 0 = inlier). Blank lines are skipped.
pub fn labelled_csv(text: &str) -> Result<(Array2<f64>, Vec<bool>), String> {
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let features = fields.len() - 1;
        if features == 0 || *width.get_or_insert(features) != features {
            return Err(format!(
                "line {}: expected {} features and a label",
                line_no + 1,
                width.unwrap_or(features)
            ));
        }
        for field in &fields[..features] {
            values.push(
                field
                    .parse::<f64>()
                    .map_err(|e| format!("line {}: {e}", line_no + 1))?,
            );
        }
        labels.push(match fields[features] {
            "1" => true,
            "0" => false,
            other => {
                return Err(format!(
                    "line {}: label {other:?} is neither 0 nor 1",
                    line_no + 1
                ));
            }
        });
    }
    let rows = labels.len();
    let data =
        Array2::from_shape_vec((rows, width.unwrap_or(0)), values).map_err(|e| e.to_string())?;
    Ok((data, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_is_one_and_a_reversed_one_zero() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
    }

    #[test]
    fn ties_count_half() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(
            roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, false, true, true]),
            Some(0.875)
        );
    }

    #[test]
    fn labelled_rows_parse_and_bad_ones_say_where() {
        let (data, labels) = labelled_csv("1,2,0\n\n3.5,4,1\n").unwrap();
        assert_eq!(data, ndarray::array![[1.0, 2.0], [3.5, 4.0]]);
        assert_eq!(labels, vec![false, true]);
        assert_eq!(
            labelled_csv("1,2,0\n3,1\n").unwrap_err(),
            "line 2: expected 2 features and a label"
        );
        assert!(labelled_csv("1,x,0\n").unwrap_err().starts_with("line 1:"));
        assert!(
            labelled_csv("1,2,7\n")
                .unwrap_err()
                .contains("neither 0 nor 1")
        );
    }

    #[test]
    fn one_class_alone_has_no_auc() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1], &[true, false]), None);
    }
}
