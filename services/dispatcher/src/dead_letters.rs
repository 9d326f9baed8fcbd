//! Dead letters: messages whose every attempt met a passing error (Meta
//! down for an hour, a number throttled for longer than the retries last).
//! They are not lost and not final: each keeps its send row (state `dead`),
//! shows `failed` with the reason, and keeps its price held, so that a
//! replay sends it as it was priced. The tenant (or an operator with
//! `aerostic dlq`) replays it, which queues it afresh, or discards it,
//! which fails it for good and releases its price.

use aerostic_kit::ApiError;
use aerostic_kit::broker::Envelope;
use aerostic_kit::error::ErrorKind;
use aerostic_kit::ids::TenantId;
use aerostic_kit::outbox::Outbox;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{message, send};
use crate::events::{self, MessageStatusChanged};

/// Dead letters of `tenant` (every tenant's for an operator), oldest first.
pub async fn list(
    db: &DatabaseConnection,
    tenant: Option<TenantId>,
    limit: u64,
) -> Result<Vec<send::Model>, DbErr> {
    let mut query = send::Entity::find().filter(send::Column::State.eq("dead"));
    if let Some(t) = tenant {
        query = query.filter(send::Column::TenantId.eq(t.to_string()));
    }
    query
        .order_by_asc(send::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
}

fn not_dead() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "dead_letter_not_found",
        "no dead-lettered message of this workspace has this id",
    )
}

/// The dead letter `message_id` of `tenant` (any tenant's for an operator).
async fn find(
    db: &DatabaseConnection,
    tenant: Option<TenantId>,
    message_id: &str,
) -> Result<send::Model, ApiError> {
    let mut query =
        send::Entity::find_by_id(message_id.to_string()).filter(send::Column::State.eq("dead"));
    if let Some(t) = tenant {
        query = query.filter(send::Column::TenantId.eq(t.to_string()));
    }
    query
        .one(db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_dead)
}

/// Queues dead letter `message_id` again with a fresh set of attempts.
pub async fn replay(
    db: &DatabaseConnection,
    outbox: &Outbox,
    tenant: Option<TenantId>,
    message_id: &str,
) -> Result<(), ApiError> {
    let row = find(db, tenant, message_id).await?;
    let now = Utc::now();
    let txn = aerostic_kit::db::begin_write(db)
        .await
        .map_err(ApiError::internal)?;
    // Conditional, so two replays at once queue it once.
    let moved = send::Entity::update_many()
        .col_expr(send::Column::State, Expr::value("queued"))
        .col_expr(send::Column::Attempts, Expr::value(0))
        .col_expr(send::Column::NextAttemptAt, Expr::value(now))
        .col_expr(send::Column::UpdatedAt, Expr::value(now))
        .filter(send::Column::MessageId.eq(&row.message_id))
        .filter(send::Column::State.eq("dead"))
        .exec(&txn)
        .await
        .map_err(ApiError::internal)?;
    if moved.rows_affected == 0 {
        return Err(not_dead());
    }
    message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value("queued"))
        .col_expr(message::Column::ErrorCode, Expr::value(Option::<i32>::None))
        .col_expr(message::Column::ErrorTitle, Expr::value(""))
        .col_expr(message::Column::StatusAt, Expr::value(now))
        .filter(message::Column::Id.eq(&row.message_id))
        .exec(&txn)
        .await
        .map_err(ApiError::internal)?;
    outbox
        .stage(
            &txn,
            &crate::send_worker::hand_off(&row.message_id, &row.phone_number_id),
        )
        .await
        .map_err(ApiError::internal)?;
    txn.commit().await.map_err(ApiError::internal)?;
    outbox.wake();
    Ok(())
}

/// Fails dead letter `message_id` for good: its price is released.
pub async fn discard(
    db: &DatabaseConnection,
    outbox: &Outbox,
    tenant: Option<TenantId>,
    message_id: &str,
) -> Result<(), ApiError> {
    let row = find(db, tenant, message_id).await?;
    let txn = aerostic_kit::db::begin_write(db)
        .await
        .map_err(ApiError::internal)?;
    let moved = send::Entity::update_many()
        .col_expr(send::Column::State, Expr::value("failed"))
        .col_expr(send::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(send::Column::MessageId.eq(&row.message_id))
        .filter(send::Column::State.eq("dead"))
        .exec(&txn)
        .await
        .map_err(ApiError::internal)?;
    if moved.rows_affected == 0 {
        return Err(not_dead());
    }
    let event = MessageStatusChanged {
        tenant_id: row.tenant_id.clone(),
        message_id: row.message_id.clone(),
        wamid: String::new(),
        status: "failed".into(),
        pricing: None,
        error_code: row.last_error_code,
    };
    outbox
        .stage(&txn, &Envelope::json(events::MESSAGE_STATUS, &event))
        .await
        .map_err(ApiError::internal)?;
    txn.commit().await.map_err(ApiError::internal)?;
    outbox.wake();
    Ok(())
}
