//! The platform-wide baseline: the model every window is scored against,
//! swapped atomically when a new one is trained, and the recent windows the
//! next one is trained on.
//!
//! Before any traffic has been seen the model is trained on a synthetic
//! baseline of ordinary windows (quiet and busy workspaces, keys, IPs and
//! accounts, drawn from a fixed seed), so detection works from the first
//! minute; once enough real windows have gathered, the scheduled retraining
//! replaces it with one learned from the platform's own traffic.

use std::sync::{Arc, Mutex, RwLock};

use aerostic_forest::{ForestError, IsolationForest};
use linfa::prelude::*;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::window::{FEATURES, Window};

/// Most recent windows kept for the next training (a uniform sample of all
/// seen since the last one).
pub const RESERVOIR: usize = 20_000;
/// Fewest real windows worth training on.
pub const MIN_TRAINING_ROWS: usize = 1_000;

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    /// Trees.
    pub trees: usize,
    /// Rows per tree.
    pub sample_size: usize,
    /// Share of the training windows flagged; sets the threshold.
    pub contamination: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            trees: 100,
            sample_size: 256,
            contamination: 0.1,
        }
    }
}

/// A model in service and where it came from.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The forest.
    pub model: IsolationForest,
    /// Its version (sortable: newer versions compare greater).
    pub version: String,
    /// When it was trained.
    pub trained_at: chrono::DateTime<chrono::Utc>,
    /// Windows it learned from.
    pub rows: usize,
    /// `bootstrap`, `schedule` or `request`.
    pub source: String,
}

/// The model in service and the windows gathering for the next one.
pub struct Baseline {
    current: RwLock<Arc<Trained>>,
    recent: Mutex<Reservoir>,
}

struct Reservoir {
    rows: Vec<[f64; 16]>,
    seen: u64,
    rng: Xoshiro256PlusPlus,
}

impl Baseline {
    /// Serving `trained`.
    pub fn new(trained: Trained) -> Self {
        Self {
            current: RwLock::new(Arc::new(trained)),
            recent: Mutex::new(Reservoir {
                rows: Vec::new(),
                seen: 0,
                rng: Xoshiro256PlusPlus::seed_from_u64(0x7e5e),
            }),
        }
    }

    /// The model in service.
    pub fn current(&self) -> Arc<Trained> {
        self.current.read().expect("baseline lock").clone()
    }

    /// Puts `trained` in service, unless a newer version already is.
    pub fn swap(&self, trained: Trained) -> bool {
        let mut current = self.current.write().expect("baseline lock");
        if trained.version <= current.version {
            return false;
        }
        *current = Arc::new(trained);
        true
    }

    /// Keeps `features` as a candidate training row (reservoir sampling).
    pub fn observe(&self, features: [f64; 16]) {
        let mut r = self.recent.lock().expect("reservoir lock");
        r.seen += 1;
        if r.rows.len() < RESERVOIR {
            r.rows.push(features);
        } else {
            let seen = r.seen;
            let slot = r.rng.random_range(0..seen) as usize;
            if slot < RESERVOIR {
                r.rows[slot] = features;
            }
        }
    }

    /// The gathered windows, emptying the reservoir.
    pub fn take_recent(&self) -> Vec<[f64; 16]> {
        let mut r = self.recent.lock().expect("reservoir lock");
        r.seen = 0;
        std::mem::take(&mut r.rows)
    }

    /// Windows gathered so far.
    pub fn recent_len(&self) -> usize {
        self.recent.lock().expect("reservoir lock").rows.len()
    }
}

/// Trains a model on `rows`.
pub fn train(
    rows: &[[f64; 16]],
    params: TrainParams,
    source: &str,
) -> Result<Trained, ForestError> {
    let data = Array2::from_shape_fn((rows.len(), FEATURES.len()), |(i, j)| rows[i][j]);
    let trained_at = chrono::Utc::now();
    let model = IsolationForest::params()
        .trees(params.trees)
        .sample_size(params.sample_size)
        .contamination(params.contamination)
        .seed(trained_at.timestamp_micros() as u64)
        .fit(&Dataset::from(data))?;
    Ok(Trained {
        model,
        version: version(trained_at),
        trained_at,
        rows: rows.len(),
        source: source.to_string(),
    })
}

/// A version that sorts by time.
pub fn version(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("m{}", at.format("%Y%m%dT%H%M%S%.6fZ"))
}

/// Ordinary windows of every kind of subject, from a fixed seed.
pub fn synthetic_baseline(rows: usize) -> Vec<[f64; 16]> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xba5e);
    (0..rows)
        .map(|i| synthetic_window(&mut rng, i % 4).features())
        .collect()
}

fn synthetic_window(rng: &mut Xoshiro256PlusPlus, kind: usize) -> Window {
    // Activity is skewed: most subjects are quiet in any minute, a few busy.
    let mut skewed = |max: f64| (rng.random::<f64>().powi(3) * max).round() as u64;
    let (calls_1m, sends_10m, logins_ok, failures_10m) = match kind {
        // A workspace: calls, sends and its people's logins.
        0 => (skewed(120.0), skewed(900.0), skewed(4.0), skewed(2.4)),
        // An API key: calls and sends.
        1 => (skewed(120.0), skewed(900.0), 0, 0),
        // An IP: calls and logins.
        2 => (skewed(90.0), 0, skewed(3.0), skewed(2.4)),
        // An account: logins alone.
        _ => (0, 0, skewed(3.0), skewed(2.4)),
    };
    let mut n = |max: u64| rng.random_range(0..=max);
    // A steady rate: 10 min ≈ 10 × 1 min ≈ 60 × 10 s, give or take.
    let calls_10m = calls_1m * 8 + n(calls_1m * 4);
    let calls_10s = calls_1m / 6 + n(calls_1m / 10);
    let sends_1m = sends_10m / 10 + n(sends_10m / 20);
    Window {
        calls_10s,
        calls_1m,
        calls_10m,
        errors_1m: n(calls_1m / 20),
        reads_1m: calls_1m / 3 + n(calls_1m / 2),
        login_failures_1m: n(failures_10m.min(1)),
        login_failures_10m: failures_10m,
        logins_ok_10m: logins_ok,
        sends_1m,
        sends_10m,
        send_failures_10m: n(sends_10m / 50),
        recipients_10m: sends_10m / 2 + n(sends_10m / 2),
        templates_10m: n(sends_10m),
        new_recipients_10m: n(sends_10m / 5),
        signature_rejects_10m: 0,
        peers_10m: match kind {
            1 | 3 => 1,
            _ => 1 + n(2),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_model_flags_an_unusual_mix_and_not_an_ordinary_window() {
        let trained = train(
            &synthetic_baseline(4096),
            TrainParams::default(),
            "bootstrap",
        )
        .unwrap();
        let ordinary = Window {
            calls_10s: 5,
            calls_1m: 30,
            calls_10m: 280,
            reads_1m: 20,
            logins_ok_10m: 1,
            peers_10m: 2,
            ..Window::default()
        };
        // Within every feature's usual range, but together unlike anything:
        // a burst of calls, nearly all refused, from many places.
        let unusual = Window {
            calls_10s: 80,
            calls_1m: 90,
            calls_10m: 95,
            errors_1m: 88,
            reads_1m: 90,
            peers_10m: 3,
            ..Window::default()
        };
        let model = &trained.model;
        let ordinary = model.score_row(&ordinary.features()).unwrap();
        let unusual = model.score_row(&unusual.features()).unwrap();
        assert!(!model.is_anomaly(ordinary), "ordinary scored {ordinary}");
        assert!(
            model.is_anomaly(unusual),
            "unusual scored {unusual} (threshold {})",
            model.threshold()
        );
    }

    #[test]
    fn a_newer_model_replaces_an_older_one_and_never_the_reverse() {
        let rows = synthetic_baseline(512);
        let older = train(&rows, TrainParams::default(), "bootstrap").unwrap();
        let newer = train(&rows, TrainParams::default(), "schedule").unwrap();
        let baseline = Baseline::new(older.clone());
        assert!(baseline.swap(newer.clone()));
        assert!(!baseline.swap(older));
        assert_eq!(baseline.current().version, newer.version);
    }

    #[test]
    fn the_reservoir_keeps_at_most_its_size() {
        let rows = synthetic_baseline(300);
        let baseline = Baseline::new(train(&rows, TrainParams::default(), "bootstrap").unwrap());
        for _ in 0..(RESERVOIR + 500) {
            baseline.observe([0.0; 16]);
        }
        assert_eq!(baseline.recent_len(), RESERVOIR);
        assert_eq!(baseline.take_recent().len(), RESERVOIR);
        assert_eq!(baseline.recent_len(), 0);
    }
}
