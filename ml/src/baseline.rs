//! The platform-wide baseline: one model per kind of subject (workspaces,
//! API keys, IPs, accounts), each learned from every subject of its kind on
//! the platform, swapped atomically when a new set is trained; and the recent
//! windows the next set is trained on.
//!
//! Why a model per kind: a kind's irrelevant features are constant for it (an
//! account makes no API calls), and the forest never cuts on a constant
//! feature, so each model splits only on what can vary for its subjects and
//! an unusual value is not drowned among sixteen dimensions.
//!
//! Why a sparse background: an isolation forest cuts within the range its
//! sample spans, so a window far beyond anything ordinary would land in the
//! same leaf as the busiest ordinary one and score no higher. Each training
//! set therefore carries a thin background (3 %) of windows spread over the
//! whole plausible range; far-out windows then fall among few points and
//! isolate quickly, while ordinary ones stay deep in the bulk.
//!
//! Before any traffic the models are trained on a synthetic baseline of
//! ordinary windows (from a fixed seed), so detection works from the first
//! minute; once enough real windows have gathered, the scheduled retraining
//! learns from the platform's own traffic.

use std::sync::{Arc, Mutex, RwLock};

use aerostic_forest::{ForestError, IsolationForest};
use linfa::prelude::*;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::subject::SubjectKind;
use crate::window::{FEATURES, Window};

/// The kinds with a model of their own, in storage order.
pub const MODELLED: [SubjectKind; 4] = [
    SubjectKind::Tenant,
    SubjectKind::ApiKey,
    SubjectKind::Ip,
    SubjectKind::Account,
];
/// Most recent windows kept per kind for the next training (a uniform
/// sample of all seen since the last one).
pub const RESERVOIR: usize = 5_000;
/// Fewest real windows of a kind worth training on; fewer are topped up
/// with the synthetic baseline.
pub const MIN_TRAINING_ROWS: usize = 500;
/// Synthetic windows per kind.
pub const SYNTHETIC_ROWS: usize = 2_048;
/// Share of background windows added to every training set.
const BACKGROUND: f64 = 0.03;

/// Rows of one kind of subject, by [`MODELLED`] index.
pub type RowsByKind = [Vec<[f64; 16]>; 4];

fn index_of(kind: SubjectKind) -> usize {
    // The platform has no windows of its own; score it like a workspace.
    MODELLED.iter().position(|k| *k == kind).unwrap_or(0)
}

/// How a model is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    /// Trees.
    pub trees: usize,
    /// Rows per tree.
    pub sample_size: usize,
    /// Share of the training windows flagged; sets each model's threshold.
    pub contamination: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            trees: 100,
            sample_size: 256,
            contamination: 0.05,
        }
    }
}

/// The models in service and where they came from.
#[derive(Debug, Clone)]
pub struct Trained {
    /// One forest per kind, in [`MODELLED`] order.
    pub models: Vec<IsolationForest>,
    /// Its version (sortable: newer versions compare greater).
    pub version: String,
    /// When it was trained.
    pub trained_at: chrono::DateTime<chrono::Utc>,
    /// Windows it learned from, every kind together.
    pub rows: usize,
    /// `bootstrap`, `schedule` or `request`.
    pub source: String,
}

impl Trained {
    /// The model that scores `kind`'s windows.
    pub fn model(&self, kind: SubjectKind) -> &IsolationForest {
        &self.models[index_of(kind)]
    }

    /// The models as bytes: each forest's own versioned bytes, in order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let each: Vec<Vec<u8>> = self.models.iter().map(IsolationForest::to_bytes).collect();
        serde_json::to_vec(&each).expect("byte lists serialise")
    }

    /// The models [`Trained::to_bytes`] wrote.
    pub fn models_from_bytes(bytes: &[u8]) -> Result<Vec<IsolationForest>, ForestError> {
        let each: Vec<Vec<u8>> =
            serde_json::from_slice(bytes).map_err(|e| ForestError::Corrupt(e.to_string()))?;
        if each.len() != MODELLED.len() {
            return Err(ForestError::Corrupt(format!(
                "{} models, not {}",
                each.len(),
                MODELLED.len()
            )));
        }
        each.iter()
            .map(|b| IsolationForest::from_bytes(b))
            .collect()
    }
}

/// The models in service and the windows gathering for the next ones.
pub struct Baseline {
    current: RwLock<Arc<Trained>>,
    recent: Mutex<Vec<Reservoir>>,
}

struct Reservoir {
    rows: Vec<[f64; 16]>,
    seen: u64,
    rng: Xoshiro256PlusPlus,
}

impl Baseline {
    /// Serving `trained`.
    pub fn new(trained: Trained) -> Self {
        let reservoirs = (0..MODELLED.len())
            .map(|i| Reservoir {
                rows: Vec::new(),
                seen: 0,
                rng: Xoshiro256PlusPlus::seed_from_u64(0x7e5e + i as u64),
            })
            .collect();
        Self {
            current: RwLock::new(Arc::new(trained)),
            recent: Mutex::new(reservoirs),
        }
    }

    /// The models in service.
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

    /// Keeps `features` of a `kind` subject as a candidate training row.
    pub fn observe(&self, kind: SubjectKind, features: [f64; 16]) {
        if !MODELLED.contains(&kind) {
            return;
        }
        let mut reservoirs = self.recent.lock().expect("reservoir lock");
        let r = &mut reservoirs[index_of(kind)];
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

    /// The gathered windows by kind, emptying the reservoirs.
    pub fn take_recent(&self) -> RowsByKind {
        let mut reservoirs = self.recent.lock().expect("reservoir lock");
        std::array::from_fn(|i| {
            reservoirs[i].seen = 0;
            std::mem::take(&mut reservoirs[i].rows)
        })
    }

    /// Windows gathered so far, every kind together.
    pub fn recent_len(&self) -> usize {
        self.recent
            .lock()
            .expect("reservoir lock")
            .iter()
            .map(|r| r.rows.len())
            .sum()
    }

    /// Whether every kind has gathered enough windows to learn from.
    pub fn ready(&self) -> bool {
        self.recent
            .lock()
            .expect("reservoir lock")
            .iter()
            .all(|r| r.rows.len() >= MIN_TRAINING_ROWS)
    }
}

/// Trains one model per kind on `rows` (a kind with fewer than
/// [`MIN_TRAINING_ROWS`] is topped up with synthetic windows), each with the
/// sparse background.
pub fn train(rows: RowsByKind, params: TrainParams, source: &str) -> Result<Trained, ForestError> {
    let trained_at = chrono::Utc::now();
    let mut total = 0;
    let mut models = Vec::with_capacity(MODELLED.len());
    for (i, mut kind_rows) in rows.into_iter().enumerate() {
        if kind_rows.len() < MIN_TRAINING_ROWS {
            kind_rows.extend(synthetic(i, SYNTHETIC_ROWS));
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xb4c6 + i as u64);
        let background = ((kind_rows.len() as f64) * BACKGROUND).ceil() as usize;
        kind_rows.extend((0..background).map(|_| background_window(&mut rng, i).features()));
        total += kind_rows.len();
        let data =
            Array2::from_shape_fn((kind_rows.len(), FEATURES.len()), |(r, f)| kind_rows[r][f]);
        models.push(
            IsolationForest::params()
                .trees(params.trees)
                .sample_size(params.sample_size)
                .contamination(params.contamination)
                // A fixed seed: the same windows give the same models, so a
                // restart or another replica never judges differently by luck.
                .seed(0x5eed_0000 + i as u64)
                .fit(&Dataset::from(data))?,
        );
    }
    Ok(Trained {
        models,
        version: version(trained_at),
        trained_at,
        rows: total,
        source: source.to_string(),
    })
}

/// The synthetic baseline of every kind.
pub fn synthetic_baseline() -> RowsByKind {
    std::array::from_fn(|i| synthetic(i, SYNTHETIC_ROWS))
}

/// A version that sorts by time.
pub fn version(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("m{}", at.format("%Y%m%dT%H%M%S%.6fZ"))
}

/// `rows` ordinary windows of the kind at `index` in [`MODELLED`], from a fixed seed.
fn synthetic(index: usize, rows: usize) -> Vec<[f64; 16]> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xba5e + index as u64);
    (0..rows)
        .map(|_| ordinary_window(&mut rng, index).features())
        .collect()
}

/// What a kind does at all: (API calls, sends, logins).
fn activities(index: usize) -> (bool, bool, bool) {
    match MODELLED[index] {
        SubjectKind::Tenant => (true, true, true),
        SubjectKind::ApiKey => (true, true, false),
        SubjectKind::Ip => (true, false, true),
        _ => (false, false, true),
    }
}

fn ordinary_window(rng: &mut Xoshiro256PlusPlus, index: usize) -> Window {
    let (calls, sends, logins) = activities(index);
    // Activity is skewed: most subjects are quiet in any minute, a few busy.
    let mut skewed = |on: bool, max: f64| {
        if on {
            (rng.random::<f64>().powi(3) * max).round() as u64
        } else {
            0
        }
    };
    let calls_1m = skewed(calls, 120.0);
    let sends_10m = skewed(sends, 900.0);
    let logins_ok = skewed(logins, 4.0);
    let failures_10m = skewed(logins, 2.4);
    let mut n = |max: u64| rng.random_range(0..=max);
    // A steady rate: 10 min ≈ 10 × 1 min ≈ 60 × 10 s, give or take.
    Window {
        calls_10s: calls_1m / 6 + n(calls_1m / 10),
        calls_1m,
        calls_10m: calls_1m * 8 + n(calls_1m * 4),
        errors_1m: n(calls_1m / 20),
        reads_1m: calls_1m / 3 + n(calls_1m / 2),
        login_failures_1m: n(failures_10m.min(1)),
        login_failures_10m: failures_10m,
        logins_ok_10m: logins_ok,
        sends_1m: sends_10m / 10 + n(sends_10m / 20),
        sends_10m,
        send_failures_10m: n(sends_10m / 50),
        recipients_10m: sends_10m / 2 + n(sends_10m / 2),
        templates_10m: n(sends_10m),
        new_recipients_10m: n(sends_10m / 5),
        signature_rejects_10m: 0,
        peers_10m: match MODELLED[index] {
            SubjectKind::ApiKey | SubjectKind::Account => 1,
            _ => 1 + n(2),
        },
    }
}

/// A window anywhere in the plausible range of the kind's activities (counts
/// log-uniform, shares uniform): the sparse background.
fn background_window(rng: &mut Xoshiro256PlusPlus, index: usize) -> Window {
    let (calls, sends, logins) = activities(index);
    let mut upto = |on: bool, max: f64| {
        if on {
            (max.ln_1p() * rng.random::<f64>()).exp_m1().round() as u64
        } else {
            0
        }
    };
    let calls_10m = upto(calls, 20_000.0);
    let calls_1m = upto(calls, calls_10m as f64);
    let calls_10s = upto(calls, calls_1m as f64);
    let errors_1m = upto(calls, calls_1m as f64);
    let reads_1m = upto(calls, calls_1m as f64);
    let login_failures_10m = upto(logins, 200.0);
    let login_failures_1m = upto(logins, login_failures_10m as f64);
    let logins_ok_10m = upto(logins, 50.0);
    let sends_10m = upto(sends, 20_000.0);
    let sends_1m = upto(sends, sends_10m as f64);
    let send_failures_10m = upto(sends, sends_10m as f64);
    let recipients_10m = upto(sends, sends_10m as f64);
    let templates_10m = upto(sends, sends_10m as f64);
    let new_recipients_10m = upto(sends, sends_10m as f64);
    let signature_rejects_10m = upto(MODELLED[index] == SubjectKind::Ip, 500.0);
    let peers_10m = 1 + upto(true, 50.0);
    Window {
        calls_10s,
        calls_1m,
        calls_10m,
        errors_1m,
        reads_1m,
        login_failures_1m,
        login_failures_10m,
        logins_ok_10m,
        sends_1m,
        sends_10m,
        send_failures_10m,
        recipients_10m,
        templates_10m,
        new_recipients_10m,
        signature_rejects_10m,
        peers_10m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap() -> Trained {
        train(synthetic_baseline(), TrainParams::default(), "bootstrap").unwrap()
    }

    #[test]
    fn the_bootstrap_models_flag_attacks_and_not_ordinary_windows() {
        let trained = bootstrap();
        let cases = [
            // (kind, window, anomalous?)
            (
                SubjectKind::ApiKey,
                Window {
                    calls_10s: 5,
                    calls_1m: 30,
                    calls_10m: 280,
                    reads_1m: 20,
                    peers_10m: 1,
                    ..Window::default()
                },
                false,
            ),
            (
                SubjectKind::Tenant,
                Window {
                    calls_10s: 8,
                    calls_1m: 50,
                    calls_10m: 450,
                    reads_1m: 30,
                    logins_ok_10m: 1,
                    sends_1m: 40,
                    sends_10m: 380,
                    recipients_10m: 300,
                    templates_10m: 200,
                    peers_10m: 2,
                    ..Window::default()
                },
                false,
            ),
            (
                SubjectKind::Account,
                Window {
                    logins_ok_10m: 1,
                    login_failures_10m: 1,
                    peers_10m: 1,
                    ..Window::default()
                },
                false,
            ),
            // A key reading as fast as it can.
            (
                SubjectKind::ApiKey,
                Window {
                    calls_10s: 100,
                    calls_1m: 480,
                    calls_10m: 480,
                    reads_1m: 480,
                    peers_10m: 1,
                    ..Window::default()
                },
                true,
            ),
            // A workspace bursting from nothing.
            (
                SubjectKind::Tenant,
                Window {
                    calls_10s: 96,
                    calls_1m: 96,
                    calls_10m: 100,
                    reads_1m: 96,
                    peers_10m: 1,
                    ..Window::default()
                },
                true,
            ),
            // Failed logins in a burst.
            (
                SubjectKind::Account,
                Window {
                    login_failures_1m: 12,
                    login_failures_10m: 12,
                    peers_10m: 1,
                    ..Window::default()
                },
                true,
            ),
        ];
        for (kind, window, expected) in cases {
            let model = trained.model(kind);
            let score = model.score_row(&window.features()).unwrap();
            assert_eq!(
                model.is_anomaly(score),
                expected,
                "{kind:?} {window:?} scored {score} (threshold {})",
                model.threshold()
            );
        }
    }

    #[test]
    fn models_survive_their_bytes() {
        let trained = bootstrap();
        let back = Trained::models_from_bytes(&trained.to_bytes()).unwrap();
        assert_eq!(back, trained.models);
        assert!(Trained::models_from_bytes(b"[]").is_err());
    }

    #[test]
    fn a_newer_model_replaces_an_older_one_and_never_the_reverse() {
        let older = bootstrap();
        let newer = train(synthetic_baseline(), TrainParams::default(), "schedule").unwrap();
        let baseline = Baseline::new(older.clone());
        assert!(baseline.swap(newer.clone()));
        assert!(!baseline.swap(older));
        assert_eq!(baseline.current().version, newer.version);
    }

    #[test]
    fn the_reservoirs_keep_at_most_their_size_per_kind() {
        let baseline = Baseline::new(bootstrap());
        for _ in 0..(RESERVOIR + 500) {
            baseline.observe(SubjectKind::ApiKey, [0.0; 16]);
        }
        baseline.observe(SubjectKind::Platform, [0.0; 16]);
        assert_eq!(baseline.recent_len(), RESERVOIR);
        assert!(!baseline.ready());
        let taken = baseline.take_recent();
        assert_eq!(taken[1].len(), RESERVOIR);
        assert!(taken[0].is_empty());
        assert_eq!(baseline.recent_len(), 0);
    }
}
