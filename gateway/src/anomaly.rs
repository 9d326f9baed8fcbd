//! The anomaly detector's alerts and mitigations, and its model.
//!
//! `GET /v1/alerts`: a workspace admin's own alerts. On the admin host:
//! every alert, the mitigations in force (and lifting one), the model in
//! service (and training a new one), and any subject's window as it stands.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::PlatformAdmin;
use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{AdminErrors, BodyErrors, CallerErrors, ServerErrors};
use crate::paging::{PageQuery, Paged};
use crate::views::{DataList, rfc3339};
use crate::{AppState, GatewayError};

fn subject_kind(k: pb::SubjectKind) -> &'static str {
    match k {
        pb::SubjectKind::Tenant => "tenant",
        pb::SubjectKind::ApiKey => "api_key",
        pb::SubjectKind::Ip => "ip",
        pb::SubjectKind::Account => "account",
        pb::SubjectKind::Platform => "platform",
        pb::SubjectKind::Unspecified => "unknown",
    }
}

fn mitigation(m: pb::Mitigation) -> Option<&'static str> {
    match m {
        pb::Mitigation::Throttle => Some("throttle"),
        pb::Mitigation::BlockKey => Some("block_key"),
        pb::Mitigation::LockLogin => Some("lock_login"),
        pb::Mitigation::None | pb::Mitigation::Unspecified => None,
    }
}

/// An alert the detector raised.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    id: String,
    /// `login_burst`, `credential_spray`, `key_scraping`, `key_probing`,
    /// `forged_webhooks`, `send_abuse` or `coordinated_wave`.
    detector: String,
    /// `tenant`, `api_key`, `ip`, `account` (a keyed hash, never the email) or `platform`.
    subject_kind: String,
    subject_id: String,
    /// The workspace it concerns, if any.
    tenant_id: Option<String>,
    /// The isolation forest's score of the window (0–1; higher is more unusual).
    score: f64,
    /// What was seen.
    detail: String,
    /// `throttle`, `block_key` or `lock_login`; absent for an alert alone.
    mitigation: Option<String>,
    mitigation_id: Option<String>,
    /// The window's named features.
    #[schema(value_type = Object)]
    features: serde_json::Value,
    /// RFC 3339.
    raised_at: Option<String>,
}

impl AlertView {
    fn of(a: pb::Alert) -> Self {
        Self {
            detector: a.detector.clone(),
            subject_kind: subject_kind(a.subject_kind()).into(),
            mitigation: mitigation(a.mitigation()).map(str::to_string),
            id: a.id,
            subject_id: a.subject_id,
            tenant_id: (!a.tenant_id.is_empty()).then_some(a.tenant_id),
            score: a.score,
            detail: a.detail,
            mitigation_id: (!a.mitigation_id.is_empty()).then_some(a.mitigation_id),
            features: serde_json::from_str(&a.features).unwrap_or_default(),
            raised_at: rfc3339(a.raised_at),
        }
    }
}

/// A mitigation in force.
#[derive(Serialize, ToSchema)]
pub struct MitigationView {
    id: String,
    /// `throttle`, `block_key` or `lock_login`.
    kind: String,
    subject_kind: String,
    subject_id: String,
    tenant_id: Option<String>,
    /// For throttles: requests a minute let through.
    limit_per_minute: Option<u32>,
    /// RFC 3339.
    expires_at: Option<String>,
    alert_id: String,
}

impl MitigationView {
    fn of(m: pb::ActiveMitigation) -> Self {
        Self {
            kind: mitigation(m.kind()).unwrap_or("none").into(),
            subject_kind: subject_kind(m.subject_kind()).into(),
            limit_per_minute: (m.limit_per_minute > 0).then_some(m.limit_per_minute),
            id: m.id,
            subject_id: m.subject_id,
            tenant_id: (!m.tenant_id.is_empty()).then_some(m.tenant_id),
            expires_at: rfc3339(m.expires_at),
            alert_id: m.alert_id,
        }
    }
}

/// The model in service.
#[derive(Serialize, ToSchema)]
pub struct ModelView {
    version: String,
    trees: u32,
    sample_size: u32,
    /// Scores above it are unusual against the baseline.
    threshold: f64,
    feature_names: Vec<String>,
    /// RFC 3339.
    trained_at: Option<String>,
    training_rows: u32,
    /// `bootstrap`, `schedule` or `request`.
    source: String,
    /// Windows gathered since, for the next training.
    gathered_rows: u32,
}

impl ModelView {
    fn of(m: pb::ModelInfoResponse) -> Self {
        Self {
            version: m.version,
            trees: m.trees,
            sample_size: m.sample_size,
            threshold: m.threshold,
            feature_names: m.feature_names,
            trained_at: rfc3339(m.trained_at),
            training_rows: m.training_rows,
            source: m.source,
            gathered_rows: m.gathered_rows,
        }
    }
}

/// The workspace's alerts, newest first.
#[utoipa::path(get, path = "/v1/alerts", operation_id = "alerts_list", tag = "workspace",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of alerts", body = Paged<AlertView>),
        (status = 400, description = "`validation_failed`: `limit` is not 1–200, or the cursor is not one this API gave", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn alerts(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<AlertView>>, GatewayError> {
    let reply = s
        .anomaly
        .clone()
        .list_alerts(s.as_caller(&c, pb::ListAlertsRequest { page: q.page()? }))
        .await?
        .into_inner();
    Ok(Json(Paged::of(reply.alerts, reply.page, AlertView::of)))
}

/// Every workspace's alerts, newest first.
#[utoipa::path(get, path = "/v1/admin/alerts", operation_id = "admin_alerts_list", tag = "admin",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of alerts", body = Paged<AlertView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn admin_alerts(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<AlertView>>, GatewayError> {
    alerts(State(s), Caller(c), Query(q)).await
}

/// The mitigations in force.
#[utoipa::path(get, path = "/v1/admin/mitigations", operation_id = "admin_mitigations_list", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Mitigations in force", body = DataList<MitigationView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn mitigations(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<DataList<MitigationView>>, GatewayError> {
    let reply = s
        .anomaly
        .clone()
        .active_mitigations(s.as_caller(&c, pb::ActiveMitigationsRequest::default()))
        .await?
        .into_inner();
    Ok(Json(DataList::of(reply.mitigations, MitigationView::of)))
}

/// Ends a mitigation before it expires (audited with the admin's name).
#[utoipa::path(post, path = "/v1/admin/mitigations/{id}/lift", operation_id = "admin_mitigations_lift", tag = "admin",
    params(("id" = String, Path, description = "The mitigation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Lifted", body = MitigationView),
        AdminErrors, ServerErrors,
    ))]
pub async fn lift(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<MitigationView>, GatewayError> {
    let reply = s
        .anomaly
        .clone()
        .lift_mitigation(s.as_caller(&c, pb::LiftMitigationRequest { mitigation_id: id }))
        .await?
        .into_inner();
    Ok(Json(MitigationView::of(
        reply.mitigation.unwrap_or_default(),
    )))
}

/// The model in service.
#[utoipa::path(get, path = "/v1/admin/anomaly/model", operation_id = "admin_anomaly_model", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The model", body = ModelView),
        AdminErrors, ServerErrors,
    ))]
pub async fn model(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<ModelView>, GatewayError> {
    let reply = s
        .anomaly
        .clone()
        .model_info(s.as_caller(&c, pb::ModelInfoRequest {}))
        .await?
        .into_inner();
    Ok(Json(ModelView::of(reply)))
}

/// `POST /v1/admin/anomaly/train` body; every field optional.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    /// Trees, 1–1000 (default 100).
    #[serde(default)]
    trees: u32,
    /// Windows per tree, at least 2 (default 256).
    #[serde(default)]
    sample_size: u32,
    /// Share of the training windows counted unusual, (0, 0.5] (default 0.05).
    #[serde(default)]
    contamination: f64,
}

/// Trains a new baseline from the windows gathered and puts it in service.
#[utoipa::path(post, path = "/v1/admin/anomaly/train", operation_id = "admin_anomaly_train", tag = "admin",
    request_body = TrainBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new model, in service", body = ModelView),
        (status = 400, description = "`invalid_parameters`, `validation_failed`: a parameter out of range", body = ErrorBody),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn train(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(body): ApiJson<TrainBody>,
) -> Result<Json<ModelView>, GatewayError> {
    let request = pb::TrainRequest {
        trees: body.trees,
        sample_size: body.sample_size,
        contamination: body.contamination,
    };
    let reply = s
        .anomaly
        .clone()
        .train(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(ModelView::of(reply.model.unwrap_or_default())))
}

/// Whose window: `GET /v1/admin/anomaly/window` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// `tenant`, `api_key`, `ip` or `account`.
    #[serde(default)]
    subject_kind: String,
    /// A workspace or key id, an IP, or an account's keyed hash (as alerts show it).
    #[serde(default)]
    subject_id: String,
}

/// One subject's window as it stands.
#[derive(Serialize, ToSchema)]
pub struct WindowView {
    subject_kind: String,
    subject_id: String,
    /// Counts over the window: `calls_10s`, `sends_10m`, `new_recipients_10m`, …
    counts: std::collections::BTreeMap<String, u64>,
    /// The features scored, by the model's feature names.
    features: std::collections::BTreeMap<String, f64>,
    /// The forest's score (0–1; higher is more unusual).
    score: f64,
    /// Above the model's threshold.
    anomalous: bool,
    model_version: String,
}

/// A subject's window read afresh, with its features and score: why it
/// was, or was not, flagged.
#[utoipa::path(get, path = "/v1/admin/anomaly/window", operation_id = "admin_anomaly_window", tag = "admin",
    params(WindowQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The window", body = WindowView),
        (status = 400, description = "`validation_failed`: `subject_kind` is not tenant, api_key, ip or account, or `subject_id` is not 1–200 printable characters", body = ErrorBody),
        AdminErrors, ServerErrors,
    ))]
pub async fn window(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Query(q): Query<WindowQuery>,
) -> Result<Json<WindowView>, GatewayError> {
    let kind = [
        pb::SubjectKind::Tenant,
        pb::SubjectKind::ApiKey,
        pb::SubjectKind::Ip,
        pb::SubjectKind::Account,
    ]
    .into_iter()
    .find(|k| subject_kind(*k) == q.subject_kind)
    .unwrap_or(pb::SubjectKind::Unspecified);
    let request = pb::SubjectWindowRequest {
        subject_kind: kind.into(),
        subject_id: q.subject_id,
    };
    let reply = s
        .anomaly
        .clone()
        .subject_window(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(WindowView {
        subject_kind: subject_kind(reply.subject_kind()).into(),
        subject_id: reply.subject_id,
        counts: reply.counts.into_iter().collect(),
        features: reply.features.into_iter().collect(),
        score: reply.score,
        anomalous: reply.anomalous,
        model_version: reply.model_version,
    }))
}
