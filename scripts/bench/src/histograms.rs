//! Latency histograms scraped from a process's Prometheus `/metrics` before
//! and after a phase, so a phase's own figures come out of counters that
//! run for the process's life.

use std::collections::BTreeMap;

/// One histogram series: cumulative counts by bucket bound, and the total.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Series {
    buckets: Vec<(f64, f64)>,
    count: f64,
    sum: f64,
}

impl Series {
    /// What was observed after `before` was taken.
    pub fn since(&self, before: Option<&Series>) -> Series {
        let Some(before) = before else {
            return self.clone();
        };
        let earlier = |bound: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, c)| *c)
        };
        Series {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, c)| (*bound, c - earlier(*bound)))
                .collect(),
            count: self.count - before.count,
            sum: self.sum - before.sum,
        }
    }

    /// Observations.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Mean, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0.0 {
            return 0.0;
        }
        self.sum / self.count * 1000.0
    }

    /// The `q` quantile in milliseconds, interpolated inside its bucket as
    /// Prometheus' `histogram_quantile` does (beyond the last bound: that bound).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let rank = q * self.count;
        let (mut lower, mut below) = (0.0, 0.0);
        for (bound, cumulative) in &self.buckets {
            if *cumulative >= rank && bound.is_finite() {
                let share = if *cumulative > below {
                    (rank - below) / (cumulative - below)
                } else {
                    0.0
                };
                return (lower + (bound - lower) * share) * 1000.0;
            }
            if bound.is_finite() {
                (lower, below) = (*bound, *cumulative);
            }
        }
        lower * 1000.0
    }
}

/// Every series of histogram `metric` in the exposition `text`, by its
/// labels (all but `le`, as written).
pub fn parse(text: &str, metric: &str) -> BTreeMap<String, Series> {
    let mut all: BTreeMap<String, Series> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(metric)) {
        let Some((name_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match name_labels.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (name_labels, ""),
        };
        let mut le = None;
        let kept: Vec<&str> = labels
            .split(',')
            .filter(|l| match l.strip_prefix("le=") {
                Some(bound) => {
                    le = Some(bound.trim_matches('"').to_string());
                    false
                }
                None => !l.is_empty(),
            })
            .collect();
        let series = all.entry(kept.join(",")).or_default();
        match name.strip_prefix(metric) {
            Some("_bucket") => {
                let bound = match le.as_deref() {
                    Some("+Inf") | None => f64::INFINITY,
                    Some(b) => b.parse().unwrap_or(f64::INFINITY),
                };
                series.buckets.push((bound, value));
            }
            Some("_count") => series.count = value,
            Some("_sum") => series.sum = value,
            _ => {}
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"
aerostic_x_seconds_bucket{stage="a",le="0.001"} 10
aerostic_x_seconds_bucket{stage="a",le="0.01"} 10
aerostic_x_seconds_bucket{stage="a",le="+Inf"} 10
aerostic_x_seconds_sum{stage="a"} 0.005
aerostic_x_seconds_count{stage="a"} 10
"#;
    const AFTER: &str = r#"
aerostic_x_seconds_bucket{stage="a",le="0.001"} 10
aerostic_x_seconds_bucket{stage="a",le="0.01"} 110
aerostic_x_seconds_bucket{stage="a",le="+Inf"} 110
aerostic_x_seconds_sum{stage="a"} 0.505
aerostic_x_seconds_count{stage="a"} 110
aerostic_y_total 3
"#;

    #[test]
    fn a_phase_is_what_the_counters_gained_during_it() {
        let before = parse(BEFORE, "aerostic_x_seconds");
        let after = parse(AFTER, "aerostic_x_seconds");
        let phase = after[r#"stage="a""#].since(before.get(r#"stage="a""#));
        assert_eq!(phase.count(), 100.0);
        assert!((phase.mean_ms() - 5.0).abs() < 1e-9);
        // All 100 fell between 1 and 10 ms: the median halfway through.
        assert!((phase.quantile_ms(0.5) - 5.5).abs() < 1e-9);
        assert!((phase.quantile_ms(0.99) - 9.91).abs() < 1e-9);
    }
}
