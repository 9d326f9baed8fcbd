//! The anomaly domain as callers see it: signals in, windows scored, findings
//! recorded and mitigated; the model, alerts and mitigations out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aerostic_kit::cache::{Cache, Mark, MarkCount, Marked};
use aerostic_kit::identity::{Identity, Permission, Role};
use aerostic_kit::outbox::Outbox;
use aerostic_kit::signals::Signal;
use aerostic_kit::{ApiError, ErrorKind};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::baseline::{self, Baseline, TrainParams, Trained};
use crate::detect::{self, Finding, WAVE_TENANTS};
use crate::entity::anomaly_alert;
use crate::mitigations::{Active, Mitigations};
use crate::store;
use crate::subject::{Subject, SubjectKind};
use crate::window::{self, FEATURES, HORIZON_MS, Window};

/// How long a finding without a mitigation (a wave) stays quiet once raised.
const COOLDOWN: Duration = Duration::from_secs(600);
/// How often the windows changed meanwhile are scored.
pub const SCORE_EVERY: Duration = Duration::from_millis(100);
/// How long a subject's ten-minute counts stand before they are read again.
const LONG_REFRESH: Duration = Duration::from_secs(5);
/// Most vectors one ScoreBatch may carry.
pub const MAX_SCORE_BATCH: usize = 10_000;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

/// A subject's window as [`Anomaly::inspect`] read it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Whose window.
    pub subject: Subject,
    /// The counts, named by [`window::count_name`].
    pub counts: Vec<u64>,
    /// The features, named by [`FEATURES`].
    pub features: [f64; 16],
    /// The forest's score (0–1; higher is more unusual).
    pub score: f64,
    /// Whether the score is above the model's threshold.
    pub anomalous: bool,
    /// The model that scored it.
    pub model_version: String,
}

/// The anomaly service's state; cheap to clone.
#[derive(Clone)]
pub struct Anomaly {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    cache: Arc<dyn Cache>,
    outbox: Outbox,
    baseline: Baseline,
    mitigations: Mitigations,
    cooldowns: Mutex<HashMap<(&'static str, Subject), Instant>>,
    /// Subjects whose windows changed since the last scoring, with the
    /// workspace a signal tied each to.
    pending: Mutex<BTreeMap<Subject, Option<String>>>,
    /// Each subject's last ten-minute counts, and when they were read.
    long_counts: Mutex<HashMap<Subject, (Instant, [u64; 16])>>,
}

impl Anomaly {
    /// Loads the newest stored model (training and storing the bootstrap one
    /// on a first start) and the mitigations in force.
    pub async fn start(db: DatabaseConnection, cache: Arc<dyn Cache>) -> anyhow::Result<Self> {
        let trained = match store::latest_model(&db).await? {
            Some(trained) => trained,
            None => {
                let rows = baseline::synthetic_baseline();
                let trained = baseline::train(rows, TrainParams::default(), "bootstrap")?;
                store::save_model(&db, &trained).await?;
                trained
            }
        };
        let mitigations = Mitigations::loaded(store::load_active(&db, Utc::now()).await?);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                cache,
                outbox: Outbox::new(store::OUTBOX_TABLE),
                baseline: Baseline::new(trained),
                mitigations,
                cooldowns: Mutex::default(),
                pending: Mutex::default(),
                long_counts: Mutex::default(),
            }),
        })
    }

    /// The outbox audit records wait in (run its relay).
    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// Folds `signals` into their subjects' windows and notes the subjects
    /// for the next scoring.
    pub async fn ingest(&self, signals: &[Signal]) -> anyhow::Result<()> {
        let inner = &self.inner;
        let mut marks = Vec::new();
        let mut touched = Vec::new();
        for signal in signals {
            window::marks(signal, &mut marks, &mut touched);
        }
        let horizon = Duration::from_millis(HORIZON_MS as u64);
        inner.cache.mark(&marks, horizon).await?;
        // Each subject once, with the first workspace any signal tied it to.
        let mut pending = inner.pending.lock().expect("pending lock");
        for (subject, tenant) in touched {
            let slot = pending.entry(subject).or_default();
            if slot.is_none() {
                *slot = tenant;
            }
        }
        Ok(())
    }

    /// Scores every subject whose window changed since the last call, and
    /// records what the detectors find. Run every [`SCORE_EVERY`]: a busy
    /// subject is read and scored once a tick however many batches touched
    /// it, which bounds the cache reads by subjects, not by events.
    pub async fn score_pending(&self) -> anyhow::Result<Vec<Finding>> {
        let inner = &self.inner;
        let subjects = std::mem::take(&mut *inner.pending.lock().expect("pending lock"));
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        // Ten-minute counts are read at most every LONG_REFRESH per subject;
        // in between the last ones read stand in.
        let mut wanted: Vec<(usize, usize)> = Vec::new();
        let mut rows: Vec<[u64; 16]> = Vec::with_capacity(subjects.len());
        {
            let mut long = inner.long_counts.lock().expect("long counts lock");
            long.retain(|_, (read_at, _)| read_at.elapsed() < LONG_REFRESH * 10);
            for (row, subject) in subjects.keys().enumerate() {
                let cached = long
                    .get(subject)
                    .filter(|(read_at, _)| read_at.elapsed() < LONG_REFRESH)
                    .map(|(_, counts)| *counts);
                rows.push(cached.unwrap_or([0; 16]));
                for i in 0..window::COUNTS {
                    if !window::is_long(i) || cached.is_none() {
                        wanted.push((row, i));
                    }
                }
            }
        }
        let keys: Vec<&Subject> = subjects.keys().collect();
        let reads: Vec<MarkCount> = wanted
            .iter()
            .map(|(row, i)| window::read(keys[*row], *i, now_ms))
            .collect();
        let counts = match inner.cache.count_marks(&reads).await {
            Ok(counts) => counts,
            Err(e) => {
                // Score them next time rather than lose them.
                let mut pending = inner.pending.lock().expect("pending lock");
                for (subject, tenant) in subjects {
                    pending.entry(subject).or_insert(tenant);
                }
                return Err(e.into());
            }
        };
        {
            let mut long = inner.long_counts.lock().expect("long counts lock");
            let mut refreshed = vec![false; rows.len()];
            for ((row, i), count) in wanted.iter().zip(counts) {
                rows[*row][*i] = count;
                refreshed[*row] |= window::is_long(*i);
            }
            for (row, subject) in keys.iter().enumerate() {
                if refreshed[row] {
                    long.insert((*subject).clone(), (Instant::now(), rows[row]));
                }
            }
        }
        let trained = inner.baseline.current();
        let mut findings = Vec::new();
        let mut spikes = Vec::new();
        for ((subject, tenant), counts) in subjects.iter().zip(&rows) {
            let window = Window::from_counts(counts);
            let features = window.features();
            let model = trained.model(subject.kind);
            let score = model.score_row(&features)?;
            let anomalous = model.is_anomaly(score);
            inner.baseline.observe(subject.kind, features);
            // A spike marks its workspace: a workspace and its key spiking
            // together count once towards a wave.
            let workspace = match subject.kind {
                SubjectKind::Tenant => Some(&subject.id),
                _ => tenant.as_ref(),
            };
            if let Some(workspace) = workspace
                && detect::is_spike(subject, &window, anomalous)
            {
                spikes.push((workspace.clone(), score));
            }
            if let Some(finding) = detect::evaluate(subject, &window, score, anomalous)
                && self.is_new(&finding, now)
            {
                let tenant = tenant
                    .clone()
                    .or_else(|| (subject.kind == SubjectKind::Tenant).then(|| subject.id.clone()));
                store::record(
                    &inner.db,
                    &inner.outbox,
                    &finding,
                    tenant.as_deref(),
                    &features,
                    now,
                )
                .await
                .map(|(_, active)| active.map(|a| inner.mitigations.add(a)))?;
                findings.push(finding);
            }
        }
        if let Some(wave) = self.wave(&spikes, now_ms).await? {
            store::record(&inner.db, &inner.outbox, &wave, None, &[0.0; 16], now).await?;
            findings.push(wave);
        }
        for finding in &findings {
            metrics::counter!("aerostic_anomaly_alerts_total", "detector" => finding.detector)
                .increment(1);
        }
        Ok(findings)
    }

    /// Whether `finding` is not already mitigated or cooling down (and if so,
    /// starts its cooldown).
    fn is_new(&self, finding: &Finding, now: chrono::DateTime<Utc>) -> bool {
        if let Some((kind, _)) = finding.mitigation
            && self.inner.mitigations.has(&finding.subject, kind, now)
        {
            return false;
        }
        let mut cooldowns = self.inner.cooldowns.lock().expect("cooldowns lock");
        cooldowns.retain(|_, until| *until > Instant::now());
        let key = (finding.detector, finding.subject.clone());
        if cooldowns.contains_key(&key) {
            return false;
        }
        let quiet = finding.mitigation.map_or(COOLDOWN, |(_, lasts)| lasts);
        cooldowns.insert(key, Instant::now() + quiet);
        true
    }

    /// Workspaces (or their keys) spiking together: each spike is marked on the platform's
    /// timeline (shared by every replica), and enough distinct workspaces
    /// within a minute make one coordinated-wave finding.
    async fn wave(&self, spikes: &[(String, f64)], now_ms: i64) -> anyhow::Result<Option<Finding>> {
        if spikes.is_empty() {
            return Ok(None);
        }
        let platform = Subject::new(SubjectKind::Platform, "wave");
        let key = platform.timeline("peer");
        let marks: Vec<Mark> = spikes
            .iter()
            .map(|(tenant, _)| Mark {
                key: key.clone(),
                what: Marked::Member(tenant.clone()),
                at_ms: now_ms,
            })
            .collect();
        let cache = &self.inner.cache;
        cache.mark(&marks, Duration::from_secs(60)).await?;
        let together = cache
            .count_marks(&[MarkCount {
                key,
                since_ms: now_ms - 60_000,
            }])
            .await?[0];
        if together < WAVE_TENANTS {
            return Ok(None);
        }
        let finding = Finding {
            detector: "coordinated_wave",
            subject: platform,
            score: spikes.iter().map(|(_, s)| *s).fold(0.0, f64::max),
            mitigation: None,
            detail: format!("{together} workspaces spiking together within a minute"),
        };
        Ok(self.is_new(&finding, Utc::now()).then_some(finding))
    }

    /// One window's score against the model in service for its kind.
    pub fn score(
        &self,
        kind: SubjectKind,
        values: &[f64],
    ) -> Result<(f64, bool, Arc<Trained>), ApiError> {
        let trained = self.inner.baseline.current();
        if values.len() != FEATURES.len() || values.iter().any(|v| !v.is_finite()) {
            return Err(ApiError::invalid_field(
                "features.values",
                format!(
                    "must be {} finite numbers, in ModelInfo.feature_names' order",
                    FEATURES.len()
                ),
            ));
        }
        let model = trained.model(kind);
        let score = model.score_row(values).map_err(internal)?;
        Ok((score, model.is_anomaly(score), trained))
    }

    /// `subject`'s window as it stands: its counts read afresh, its
    /// features and its score. Platform admins, to see why something was
    /// (or was not) flagged.
    pub async fn inspect(
        &self,
        caller: &Identity,
        subject: Subject,
    ) -> Result<Inspection, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        if !baseline::MODELLED.contains(&subject.kind) {
            return Err(ApiError::invalid_field(
                "subject_kind",
                "must be tenant, api_key, ip or account",
            ));
        }
        if subject.id.is_empty()
            || subject.id.len() > 200
            || subject.id.chars().any(char::is_control)
        {
            return Err(ApiError::invalid_field(
                "subject_id",
                "must be 1 to 200 printable characters",
            ));
        }
        let now_ms = Utc::now().timestamp_millis();
        let reads: Vec<MarkCount> = (0..window::COUNTS)
            .map(|i| window::read(&subject, i, now_ms))
            .collect();
        let counts = self
            .inner
            .cache
            .count_marks(&reads)
            .await
            .map_err(internal)?;
        let window = Window::from_counts(&counts);
        let features = window.features();
        let (score, anomalous, trained) = self.score(subject.kind, &features)?;
        Ok(Inspection {
            subject,
            counts,
            features,
            score,
            anomalous,
            model_version: trained.version.clone(),
        })
    }

    /// Trains and serves new models from the windows gathered (a kind with
    /// too few is topped up with the synthetic baseline).
    pub async fn train(&self, params: TrainParams, source: &str) -> Result<Arc<Trained>, ApiError> {
        let rows = self.inner.baseline.take_recent();
        let source = source.to_string();
        let trained = tokio::task::spawn_blocking(move || baseline::train(rows, params, &source))
            .await
            .map_err(internal)?
            .map_err(|e| {
                ApiError::new(
                    ErrorKind::InvalidArgument,
                    "invalid_parameters",
                    e.to_string(),
                )
            })?;
        store::save_model(&self.inner.db, &trained)
            .await
            .map_err(internal)?;
        self.inner.baseline.swap(trained);
        Ok(self.inner.baseline.current())
    }

    /// [`Anomaly::train`] for a platform admin, with parameters from the wire
    /// (0 keeps a default).
    pub async fn train_for(
        &self,
        caller: &Identity,
        trees: u32,
        sample_size: u32,
        contamination: f64,
    ) -> Result<Arc<Trained>, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let defaults = TrainParams::default();
        if trees > 1000 {
            return Err(ApiError::invalid_field("trees", "must be at most 1000"));
        }
        let params = TrainParams {
            trees: if trees == 0 {
                defaults.trees
            } else {
                trees as usize
            },
            sample_size: if sample_size == 0 {
                defaults.sample_size
            } else {
                sample_size as usize
            },
            contamination: if contamination == 0.0 {
                defaults.contamination
            } else {
                contamination
            },
        };
        self.train(params, "request").await
    }

    /// The model in service and the windows gathered for the next one.
    pub fn model_info(&self) -> (Arc<Trained>, usize) {
        (
            self.inner.baseline.current(),
            self.inner.baseline.recent_len(),
        )
    }

    /// Alerts `caller` may see, newest first, a page after `before`.
    pub async fn alerts(
        &self,
        caller: &Identity,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<(anomaly_alert::Model, Option<crate::detect::MitigationKind>)>, ApiError> {
        let tenant = if caller.role == Role::SuperAdmin && caller.api_key_id.is_none() {
            None
        } else {
            caller.require(Permission::ManageSettings)?;
            Some(caller.tenant_id.to_string())
        };
        store::alerts(&self.inner.db, tenant.as_deref(), before, limit)
            .await
            .map_err(internal)
    }

    /// The mitigations in force and their revision.
    pub fn in_force(&self) -> (String, Vec<Active>) {
        self.inner.mitigations.in_force(Utc::now())
    }

    /// Lifts a mitigation; platform admins only.
    pub async fn lift(&self, caller: &Identity, id: &str) -> Result<Active, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let actor = aerostic_kit::audit::actor(caller);
        let lifted = store::lift(&self.inner.db, &self.inner.outbox, id, &actor, Utc::now())
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    "mitigation_not_found",
                    "no such mitigation in force",
                )
            })?;
        self.inner.mitigations.remove(&lifted.id);
        Ok(lifted)
    }

    /// Reloads the mitigations in force and any newer stored model (what
    /// other replicas did).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let inner = &self.inner;
        // A change made here while the database was read wins; the next
        // reload carries it.
        let generation = inner.mitigations.generation();
        let active = store::load_active(&inner.db, Utc::now()).await?;
        inner.mitigations.replace(generation, active);
        if let Some(trained) = store::latest_model(&inner.db).await?
            && trained.version > inner.baseline.current().version
        {
            inner.baseline.swap(trained);
        }
        Ok(())
    }

    /// Retrains from the gathered windows if there are enough.
    pub async fn retrain_if_ready(&self) -> Result<bool, ApiError> {
        if !self.inner.baseline.ready() {
            return Ok(false);
        }
        self.train(TrainParams::default(), "schedule")
            .await
            .map(|_| true)
    }
}
