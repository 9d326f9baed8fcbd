//! What the anomaly service keeps in its database: alerts, mitigations (each
//! applied or lifted together with its audit record, through the outbox) and
//! trained models.

use aerostic_kit::audit::AuditRecord;
use aerostic_kit::outbox::Outbox;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::baseline::Trained;
use crate::detect::{Finding, MitigationKind};
use crate::entity::{anomaly_alert, anomaly_mitigation, anomaly_model};
use crate::mitigations::Active;
use crate::subject::{Subject, SubjectKind};
use crate::window::FEATURES;

/// The anomaly service's outbox table.
pub const OUTBOX_TABLE: &str = "anomaly_outbox";

/// Who the audit log names for what the detector did itself.
const DETECTOR: &str = "system:anomaly";

/// The audit log's tenant for what concerns no one workspace.
const PLATFORM: &str = "platform";

/// Stores `finding` as an alert and, if it has one, its mitigation, with an
/// audit record of the mitigation, in one transaction.
pub async fn record(
    db: &DatabaseConnection,
    outbox: &Outbox,
    finding: &Finding,
    tenant_id: Option<&str>,
    features: &[f64; 16],
    now: DateTime<Utc>,
) -> Result<(anomaly_alert::Model, Option<Active>), DbErr> {
    let alert_id = uuid::Uuid::now_v7().to_string();
    let named: serde_json::Map<String, serde_json::Value> = FEATURES
        .iter()
        .zip(features)
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::json!((value * 1e4).round() / 1e4),
            )
        })
        .collect();
    let active = finding.mitigation.map(|(kind, lasts)| Active {
        id: uuid::Uuid::now_v7().to_string(),
        alert_id: alert_id.clone(),
        kind,
        subject: finding.subject.clone(),
        tenant_id: tenant_id.map(str::to_string),
        expires_at: now + lasts,
    });
    let alert = anomaly_alert::Model {
        id: alert_id,
        detector: finding.detector.to_string(),
        subject_kind: finding.subject.kind.as_str().to_string(),
        subject_id: finding.subject.id.clone(),
        tenant_id: tenant_id.map(str::to_string),
        score: finding.score,
        features: serde_json::Value::Object(named).to_string(),
        detail: finding.detail.clone(),
        mitigation_id: active.as_ref().map(|a| a.id.clone()),
        raised_at: now,
    };
    let txn = aerostic_kit::db::begin_write(db).await?;
    alert.clone().into_active_model().insert(&txn).await?;
    if let Some(a) = &active {
        anomaly_mitigation::Model {
            id: a.id.clone(),
            alert_id: a.alert_id.clone(),
            kind: a.kind.as_str().to_string(),
            subject_kind: a.subject.kind.as_str().to_string(),
            subject_id: a.subject.id.clone(),
            tenant_id: a.tenant_id.clone(),
            limit_per_minute: a.kind.per_minute() as i32,
            starts_at: now,
            expires_at: a.expires_at,
            lifted_at: None,
            lifted_by: None,
        }
        .into_active_model()
        .insert(&txn)
        .await?;
        let detail = format!(
            "{} on {} until {} ({}: {})",
            a.kind.as_str(),
            a.subject,
            a.expires_at.to_rfc3339(),
            finding.detector,
            finding.detail
        );
        let audit = AuditRecord::now(
            tenant_id.unwrap_or(PLATFORM),
            DETECTOR,
            "mitigation.applied",
            &detail,
        );
        outbox.stage(&txn, &audit.envelope()).await?;
    }
    txn.commit().await?;
    outbox.wake();
    Ok((alert, active))
}

fn active_of(m: anomaly_mitigation::Model) -> Option<Active> {
    Some(Active {
        kind: MitigationKind::parse(&m.kind, m.limit_per_minute.max(0) as u32)?,
        subject: Subject::new(SubjectKind::parse(&m.subject_kind)?, m.subject_id),
        id: m.id,
        alert_id: m.alert_id,
        tenant_id: m.tenant_id,
        expires_at: m.expires_at,
    })
}

/// Every mitigation in force at `now`.
pub async fn load_active(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Active>, DbErr> {
    Ok(anomaly_mitigation::Entity::find()
        .filter(anomaly_mitigation::Column::ExpiresAt.gt(now))
        .filter(anomaly_mitigation::Column::LiftedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(active_of)
        .collect())
}

/// Lifts mitigation `id` if it is in force, with an audit record naming `actor`.
pub async fn lift(
    db: &DatabaseConnection,
    outbox: &Outbox,
    id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<Active>, DbErr> {
    let txn = aerostic_kit::db::begin_write(db).await?;
    let Some(row) = anomaly_mitigation::Entity::find_by_id(id)
        .filter(anomaly_mitigation::Column::ExpiresAt.gt(now))
        .filter(anomaly_mitigation::Column::LiftedAt.is_null())
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    let mut update = row.clone().into_active_model();
    update.lifted_at = Set(Some(now));
    update.lifted_by = Set(Some(actor.to_string()));
    update.update(&txn).await?;
    let Some(active) = active_of(row) else {
        return Ok(None);
    };
    let detail = format!("{} on {} lifted", active.kind.as_str(), active.subject);
    let audit = AuditRecord::now(
        active.tenant_id.as_deref().unwrap_or(PLATFORM),
        actor,
        "mitigation.lifted",
        &detail,
    );
    outbox.stage(&txn, &audit.envelope()).await?;
    txn.commit().await?;
    outbox.wake();
    Ok(Some(active))
}

/// Alerts newest first, after `before` (an alert id) if given; only
/// `tenant`'s when given; each with the kind of its mitigation.
pub async fn alerts(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<(anomaly_alert::Model, Option<MitigationKind>)>, DbErr> {
    let mut filter = Condition::all();
    if let Some(t) = tenant {
        filter = filter.add(anomaly_alert::Column::TenantId.eq(t));
    }
    if let Some(b) = before {
        filter = filter.add(anomaly_alert::Column::Id.lt(b));
    }
    let rows = anomaly_alert::Entity::find()
        .filter(filter)
        .order_by_desc(anomaly_alert::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|a| a.mitigation_id.clone())
        .collect();
    let kinds: std::collections::HashMap<String, MitigationKind> =
        anomaly_mitigation::Entity::find()
            .filter(anomaly_mitigation::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|m| {
                Some((
                    m.id.clone(),
                    MitigationKind::parse(&m.kind, m.limit_per_minute.max(0) as u32)?,
                ))
            })
            .collect();
    Ok(rows
        .into_iter()
        .map(|a| {
            let kind = a
                .mitigation_id
                .as_ref()
                .and_then(|id| kinds.get(id).copied());
            (a, kind)
        })
        .collect())
}

/// Keeps `trained` so restarts and other replicas serve it.
pub async fn save_model(db: &DatabaseConnection, trained: &Trained) -> Result<(), DbErr> {
    anomaly_model::Model {
        version: trained.version.clone(),
        model: trained.to_bytes(),
        feature_names: FEATURES.join(","),
        trees: trained.models[0].trees() as i32,
        sample_size: trained.models[0].sample_size() as i32,
        threshold: trained.models[0].threshold(),
        training_rows: trained.rows as i32,
        source: trained.source.clone(),
        trained_at: trained.trained_at,
    }
    .into_active_model()
    .insert(db)
    .await
    .map(|_| ())
}

/// The newest stored model this build can read, if any.
pub async fn latest_model(db: &DatabaseConnection) -> Result<Option<Trained>, DbErr> {
    let rows = anomaly_model::Entity::find()
        .order_by_desc(anomaly_model::Column::Version)
        .limit(5)
        .all(db)
        .await?;
    for row in rows {
        if row.feature_names != FEATURES.join(",") {
            continue;
        }
        match Trained::models_from_bytes(&row.model) {
            Ok(models) => {
                return Ok(Some(Trained {
                    models,
                    version: row.version,
                    trained_at: row.trained_at,
                    rows: row.training_rows.max(0) as usize,
                    source: row.source,
                }));
            }
            Err(e) => {
                tracing::warn!(version = %row.version, error = %e, "stored model unreadable; skipped")
            }
        }
    }
    Ok(None)
}
