//! Meta's statuses applied to a message: forward only (sent < delivered <
//! read; failed is final), each raising `message.status` once, whenever the
//! message becomes known.

use aerostic_kit::broker::Envelope;
use aerostic_kit::ids::TenantId;
use aerostic_kit::outbox::Outbox;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::entity::{message, message_status};
use crate::events::{self, MessageStatusChanged};

/// A status's place in the order a message moves through.
pub fn rank(status: &str) -> u8 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "played" => 4,
        "failed" => 5,
        _ => 0,
    }
}

/// Applies the recorded, not yet applied statuses of `wamid` to its
/// message, if `tenant` has one with that wamid: each moves it forward only,
/// and each raises `message.status` once. Called when a status arrives, and
/// when an outbound message's wamid is recorded (a status may come first).
pub async fn apply_pending(
    txn: &impl ConnectionTrait,
    outbox: &Outbox,
    tenant: TenantId,
    wamid: &str,
) -> Result<usize, DbErr> {
    // Pending statuses first: almost always none (every outbound message
    // passes here when its wamid is recorded), and then nothing else is read.
    let pending = message_status::Entity::find()
        .filter(message_status::Column::Wamid.eq(wamid))
        .filter(message_status::Column::TenantId.eq(tenant.to_string()))
        .filter(message_status::Column::Applied.eq(false))
        .all(txn)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let Some(message) = message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.to_string()))
        .filter(message::Column::Wamid.eq(wamid))
        .one(txn)
        .await?
    else {
        return Ok(0);
    };
    let mut current = message.status.clone();
    let mut latest: Option<(String, DateTime<Utc>, Option<i64>, String)> = None;
    for status in &pending {
        let detail: Value = serde_json::from_str(&status.detail).unwrap_or_default();
        let error = &detail["errors"][0];
        let error_code = error["code"].as_i64();
        let moves = current != "failed"
            && (status.status == "failed" || rank(&status.status) > rank(&current));
        if moves {
            current = status.status.clone();
            latest = Some((
                status.status.clone(),
                status.occurred_at,
                error_code,
                error["title"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let event = MessageStatusChanged {
            tenant_id: tenant.to_string(),
            message_id: message.id.clone(),
            wamid: wamid.to_string(),
            status: status.status.clone(),
            pricing: detail.get("pricing").filter(|p| !p.is_null()).cloned(),
            error_code,
        };
        outbox
            .stage(txn, &Envelope::json(events::MESSAGE_STATUS, &event))
            .await?;
    }
    if let Some((status, at, code, title)) = latest {
        // Conditional on what the row holds when the update runs: a worker
        // applying a later status of the same message at the same time
        // cannot be overwritten by an earlier one.
        let earlier: Vec<&str> = ["queued", "sent", "delivered", "read", "played"]
            .into_iter()
            .filter(|s| status == "failed" || rank(s) < rank(&status))
            .collect();
        message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::value(status))
            .col_expr(message::Column::StatusAt, Expr::value(at))
            .col_expr(
                message::Column::ErrorCode,
                Expr::value(code.map(|c| c as i32)),
            )
            .col_expr(
                message::Column::ErrorTitle,
                Expr::value(title.chars().take(300).collect::<String>()),
            )
            .filter(message::Column::Id.eq(message.id.clone()))
            .filter(message::Column::Status.is_in(earlier))
            .exec(txn)
            .await?;
    }
    // Only those read above: a status committed meanwhile stays pending
    // for the next call rather than being marked applied unapplied.
    message_status::Entity::update_many()
        .col_expr(message_status::Column::Applied, Expr::value(true))
        .filter(message_status::Column::Wamid.eq(wamid))
        .filter(message_status::Column::TenantId.eq(tenant.to_string()))
        .filter(message_status::Column::Status.is_in(pending.iter().map(|s| s.status.clone())))
        .exec(txn)
        .await?;
    Ok(pending.len())
}

/// Applies statuses left pending although their message is known: the
/// status and the wamid were committed by two transactions at once, each
/// before it could see the other's (a status posted while the sender was
/// recording the wamid). Returns how many were applied. Run by a sweep.
pub async fn apply_known(db: &DatabaseConnection, outbox: &Outbox) -> Result<usize, DbErr> {
    use sea_orm::sea_query::{ExprTrait, Query};
    let (s, m) = (message_status::Entity, message::Entity);
    // Meta stops retrying after 30 days: older orphans are not looked at.
    let since = Utc::now() - chrono::Duration::days(31);
    let query = Query::select()
        .distinct()
        .column((s, message_status::Column::TenantId))
        .column((s, message_status::Column::Wamid))
        .from(s)
        .inner_join(
            m,
            Expr::col((m, message::Column::Wamid))
                .equals((s, message_status::Column::Wamid))
                .and(
                    Expr::col((m, message::Column::TenantId))
                        .equals((s, message_status::Column::TenantId)),
                ),
        )
        .and_where(Expr::col((s, message_status::Column::Applied)).eq(false))
        .and_where(Expr::col((s, message_status::Column::ReceivedAt)).gt(since))
        .limit(500)
        .to_owned();
    let rows = db
        .query_all_raw(db.get_database_backend().build(&query))
        .await?;
    let mut applied = 0;
    for row in rows {
        let (tenant, wamid): (String, String) =
            (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        let Ok(tenant) = tenant.parse::<TenantId>() else {
            continue;
        };
        let txn = aerostic_kit::db::begin_write(db).await?;
        applied += apply_pending(&txn, outbox, tenant, &wamid).await?;
        txn.commit().await?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn statuses_are_ordered_with_failed_last() {
        assert!(rank("read") > rank("delivered") && rank("delivered") > rank("sent"));
        assert!(rank("failed") > rank("read"));
        assert_eq!(rank("queued"), 0);
    }
}
