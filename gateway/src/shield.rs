//! The shield: the anomaly service's mitigations, enforced here, and the
//! signals this gateway records for it.
//!
//! The mitigations in force are polled from the anomaly service every
//! [`POLL`] (a poll whose revision is still current carries nothing) and kept
//! in memory, so checking a request costs a map lookup; only a throttled
//! subject costs a cache round trip (its sliding window, shared by every
//! replica). If the anomaly service cannot be reached the last known set
//! stays in force until each entry expires.
//!
//! Every request answered is recorded as a signal (route template, status,
//! workspace, API key, client IP), and so is every login and every webhook
//! whose signature fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aerostic_kit::cache::Cache;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::Identity;
use aerostic_kit::signals::{Signal, SignalKeys, SignalKind, Signals};
use aerostic_kit::{ApiError, ErrorKind};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::anomaly_client::AnomalyClient;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::{AppState, GatewayError};

/// How often the mitigations in force are fetched.
pub const POLL: Duration = Duration::from_millis(200);

/// A mitigation as the gateway enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Throttle(u32),
    Block,
    Lock,
}

type Key = (i32, String);

#[derive(Default)]
struct Snapshot {
    revision: String,
    rules: HashMap<Key, Vec<(Rule, DateTime<Utc>)>>,
}

impl Snapshot {
    fn of(revision: String, mitigations: Vec<pb::ActiveMitigation>) -> Self {
        let mut rules: HashMap<Key, Vec<(Rule, DateTime<Utc>)>> = HashMap::new();
        for m in mitigations {
            let rule = match m.kind() {
                pb::Mitigation::Throttle => Rule::Throttle(m.limit_per_minute.max(1)),
                pb::Mitigation::BlockKey => Rule::Block,
                pb::Mitigation::LockLogin => Rule::Lock,
                _ => continue,
            };
            let expires = m
                .expires_at
                .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
                .unwrap_or_else(Utc::now);
            rules
                .entry((m.subject_kind, m.subject_id))
                .or_default()
                .push((rule, expires));
        }
        Self { revision, rules }
    }

    /// The rules in force on a subject.
    fn on(&self, kind: pb::SubjectKind, id: &str) -> Vec<(Rule, DateTime<Utc>)> {
        let now = Utc::now();
        self.rules
            .get(&(kind as i32, id.to_string()))
            .map(|rules| {
                rules
                    .iter()
                    .filter(|(_, until)| *until > now)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Mitigations in force and the signal recorder.
#[derive(Clone)]
pub struct Shield {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    cache: Arc<dyn Cache>,
    signals: Signals,
    keys: SignalKeys,
}

impl Shield {
    /// A shield with nothing in force, counting throttles in `cache`,
    /// recording into `signals`, hashing accounts with `keys`.
    pub fn new(cache: Arc<dyn Cache>, signals: Signals, keys: SignalKeys) -> Self {
        Self {
            snapshot: Arc::default(),
            cache,
            signals,
            keys,
        }
    }

    /// Polls `anomaly` for the mitigations in force every [`POLL`].
    pub fn spawn_poller(
        &self,
        anomaly: AnomalyClient<TracedChannel>,
    ) -> tokio::task::JoinHandle<()> {
        let snapshot = self.snapshot.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let known = snapshot.read().expect("shield lock").revision.clone();
                let request = pb::ActiveMitigationsRequest {
                    known_revision: known,
                };
                match anomaly.clone().active_mitigations(request).await {
                    Ok(reply) => {
                        failing = false;
                        let reply = reply.into_inner();
                        if reply.changed {
                            let next = Snapshot::of(reply.revision, reply.mitigations);
                            *snapshot.write().expect("shield lock") = Arc::new(next);
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot fetch mitigations; keeping the last known");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("shield lock").clone()
    }

    /// Records `signal`.
    pub fn record(&self, signal: Signal) {
        self.signals.record(signal);
    }

    /// The keyed hash an account's signals and lock go by.
    pub fn account(&self, email: &str) -> String {
        self.keys.account(email)
    }

    /// Refuses a blocked API key, and a throttled key or workspace past its limit.
    pub async fn check_caller(&self, caller: &Identity) -> Result<(), ApiError> {
        let snapshot = self.current();
        if let Some(key) = &caller.api_key_id {
            let rules = snapshot.on(pb::SubjectKind::ApiKey, key);
            if rules.iter().any(|(r, _)| *r == Rule::Block) {
                return Err(ApiError::new(
                    ErrorKind::PermissionDenied,
                    "api_key_blocked",
                    "this API key is blocked for unusual activity; a platform admin can lift it",
                ));
            }
            self.throttle("api_key", key, &rules).await?;
        }
        let tenant = caller.tenant_id.to_string();
        let rules = snapshot.on(pb::SubjectKind::Tenant, &tenant);
        self.throttle("tenant", &tenant, &rules).await
    }

    /// Refuses a batch of sends from a caller under a throttle: a throttle
    /// counts requests, and a batch would carry a hundred messages each.
    pub fn check_batch(&self, caller: &Identity) -> Result<(), ApiError> {
        let snapshot = self.current();
        let throttles = |kind, id: &str| {
            snapshot
                .on(kind, id)
                .iter()
                .any(|(r, _)| matches!(r, Rule::Throttle(_)))
        };
        let on_key = caller
            .api_key_id
            .as_deref()
            .is_some_and(|key| throttles(pb::SubjectKind::ApiKey, key));
        if on_key || throttles(pb::SubjectKind::Tenant, &caller.tenant_id.to_string()) {
            return Err(ApiError::new(
                ErrorKind::RateLimited,
                "throttled",
                "requests are limited for unusual activity; send one message per request until the limit is lifted",
            )
            .with_detail("messages", "no batches while throttled")
            .with_detail("retry_after_secs", "60"));
        }
        Ok(())
    }

    /// Refuses a throttled IP past its limit.
    pub async fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        let rules = self.current().on(pb::SubjectKind::Ip, ip);
        self.throttle("ip", ip, &rules).await
    }

    /// Refuses logins to a locked account, until the lock ends.
    pub fn check_login(&self, email: &str) -> Result<(), ApiError> {
        let account = self.account(email);
        let rules = self.current().on(pb::SubjectKind::Account, &account);
        match rules
            .iter()
            .filter(|(r, _)| *r == Rule::Lock)
            .map(|(_, until)| *until)
            .max()
        {
            None => Ok(()),
            Some(until) => {
                let secs = (until - Utc::now()).num_seconds().max(1);
                Err(ApiError::new(
                    ErrorKind::RateLimited,
                    "login_locked",
                    "sign-in to this account is locked for unusual activity; try again later",
                )
                .with_detail("retry_after_secs", secs.to_string()))
            }
        }
    }

    async fn throttle(
        &self,
        kind: &str,
        id: &str,
        rules: &[(Rule, DateTime<Utc>)],
    ) -> Result<(), ApiError> {
        let Some(limit) = rules
            .iter()
            .filter_map(|(r, _)| match r {
                Rule::Throttle(n) => Some(*n),
                _ => None,
            })
            .min()
        else {
            return Ok(());
        };
        let key = format!("shield:{kind}:{id}");
        match self
            .cache
            .sliding_window(&key, Duration::from_secs(60), limit as u64)
            .await
        {
            Ok(d) if !d.allowed => Err(ApiError::new(
                ErrorKind::RateLimited,
                "throttled",
                "requests are limited for unusual activity; slow down",
            )
            .with_detail("limit_per_minute", limit.to_string())
            .with_detail(
                "retry_after_secs",
                d.retry_after.as_secs().max(1).to_string(),
            )),
            Ok(_) => Ok(()),
            // The cache down: let the request through rather than refuse everyone.
            Err(e) => {
                tracing::warn!(error = %e, "cannot count a throttled subject");
                Ok(())
            }
        }
    }
}

/// Who a request turned out to be, filled in by the [`crate::identity::Caller`] extractor.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Option<SeenCaller>>>);

/// The workspace and API key a request was made with.
#[derive(Clone)]
struct SeenCaller {
    tenant: String,
    api_key: Option<String>,
}

impl Seen {
    /// Notes the caller's workspace and API key.
    pub fn note(&self, caller: &Identity) {
        *self.0.lock().expect("seen lock") = Some(SeenCaller {
            tenant: caller.tenant_id.to_string(),
            api_key: caller.api_key_id.clone(),
        });
    }
}

/// Meta's webhooks: not API calls; their signal is a failed signature.
const WEBHOOKS: &str = "/webhooks/meta";

/// The signal a call answered `status` on `route` leaves, if any: none for
/// probes and metrics.
fn signal_of(route: String, method: String, status: u16) -> Option<SignalKind> {
    match route.as_str() {
        "/healthz" | "/readyz" | "/metrics" | "unmatched" => None,
        // 401 and 403 are the missing and the wrong signature.
        WEBHOOKS if matches!(status, 401 | 403) => Some(SignalKind::SignatureRejected),
        WEBHOOKS => None,
        _ => Some(SignalKind::ApiCall {
            method,
            route,
            status,
        }),
    }
}

/// Enforces IP throttles and records every answered call as a signal.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    if let Some(ip) = &ip
        && let Err(e) = state.shield.check_ip(ip).await
    {
        return GatewayError(e).into_response();
    }
    let seen = Seen::default();
    req.extensions_mut().insert(seen.clone());
    let method = req.method().to_string();
    let response = next.run(req).await;
    if let Some(kind) = signal_of(route, method, response.status().as_u16()) {
        let who = seen.0.lock().expect("seen lock").clone();
        let mut signal = Signal::now(kind).ip(ip);
        if let Some(who) = who {
            signal = signal.tenant(who.tenant).api_key(who.api_key.as_deref());
        }
        state.shield.record(signal);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aerostic_kit::cache::MemoryCache;
    use aerostic_kit::identity::Role;
    use aerostic_kit::ids::TenantId;

    fn throttle(kind: pb::SubjectKind, id: &str) -> pb::ActiveMitigation {
        pb::ActiveMitigation {
            kind: pb::Mitigation::Throttle as i32,
            subject_kind: kind as i32,
            subject_id: id.into(),
            limit_per_minute: 60,
            expires_at: Some(aerostic_proto::timestamp(
                Utc::now() + chrono::Duration::minutes(5),
            )),
            ..Default::default()
        }
    }

    fn caller(tenant: TenantId, key: &str) -> Identity {
        Identity {
            tenant_id: tenant,
            user_id: None,
            role: Role::Agent,
            api_key_id: Some(key.into()),
            scopes: vec!["messages:send".into()],
        }
    }

    #[test]
    fn a_throttled_key_or_workspace_may_not_send_batches_and_others_may() {
        let shield = Shield::new(
            Arc::new(MemoryCache::new("shield-test")),
            Signals::off(),
            SignalKeys::new(b"k"),
        );
        let (slow, fine) = (TenantId::new(), TenantId::new());
        *shield.snapshot.write().unwrap() = Arc::new(Snapshot::of(
            "1".into(),
            vec![
                throttle(pb::SubjectKind::ApiKey, "key-a"),
                throttle(pb::SubjectKind::Tenant, &slow.to_string()),
            ],
        ));
        let refused = shield.check_batch(&caller(fine, "key-a")).unwrap_err();
        assert_eq!(
            (refused.kind, refused.code.as_str()),
            (ErrorKind::RateLimited, "throttled")
        );
        assert!(shield.check_batch(&caller(slow, "key-b")).is_err());
        assert!(shield.check_batch(&caller(fine, "key-b")).is_ok());
    }
}
