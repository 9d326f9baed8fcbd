//! The send path's writes, each the fewest round trips its backend allows.
//!
//! On PostgreSQL a new send (its contact and conversation when they are new,
//! the message, its send row) is one statement, and so is an accepted send
//! (the wamid, the state, and whether a status came first): a statement is
//! atomic by itself, so neither needs `BEGIN`/`COMMIT`. A measured send was
//! about fifteen round trips before; each costs PostgreSQL and the
//! dispatcher more CPU than the row it writes (BENCHMARKS.md). SQLite, one
//! process with nothing to wait for on the wire, writes the same rows in a
//! transaction of ordinary statements. Both paths run the same tests.

use aerostic_kit::ids::TenantId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait,
};

use crate::entity::{conversation, message, send};
use crate::payload::WaContact;

/// A send to record: the message as it will read, and where it goes.
pub struct NewSend<'a> {
    /// Its tenant.
    pub tenant: TenantId,
    /// The message row (its contact and conversation ids decided).
    pub message: &'a message::Model,
    /// The recipient (a new contact's wa_id).
    pub wa_id: &'a str,
    /// Whether the contact is new (inserted with `message.contact_id`).
    pub new_contact: bool,
    /// Whether the conversation is new (inserted with `message.conversation_id`).
    pub new_conversation: bool,
    /// The number it goes out on.
    pub number: &'a str,
    /// Meta's request body.
    pub body: &'a str,
    /// Our media to upload before sending, if any.
    pub media_id: Option<String>,
    /// When it was asked.
    pub now: DateTime<Utc>,
}

/// Writes `send`: message, send row, and the contact and conversation when
/// new. The contact and conversation really written are the message's
/// (another request may have made them first).
pub async fn new_send(
    db: &DatabaseConnection,
    send: &NewSend<'_>,
) -> Result<message::Model, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres && one_statement(db, send).await? {
        return Ok(send.message.clone());
    }
    in_transaction(db, send).await
}

/// The whole send in one PostgreSQL statement; `false` when a contact or
/// conversation it was to create was made by another request since it was
/// looked up (nothing is written then, and the transaction path resolves it).
async fn one_statement(db: &DatabaseConnection, send: &NewSend<'_>) -> Result<bool, DbErr> {
    const SQL: &str = r#"
WITH nc AS (
  INSERT INTO contacts (id, tenant_id, wa_id, bsuid, profile_name, opted_out, opted_out_at,
    opt_out_source, created_at, updated_at)
  SELECT $1, $2, $3, NULL, '', false, NULL, '', $4, $4 WHERE $5
  ON CONFLICT DO NOTHING
  RETURNING id
), who AS (
  SELECT id FROM nc UNION ALL SELECT $1 WHERE NOT $5
), nv AS (
  INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, status, assignee_id,
    unread_count, last_inbound_at, last_message_at, created_at)
  SELECT $6, $2, who.id, $7, 'open', NULL, 0, NULL, $4, $4 FROM who WHERE $8
  ON CONFLICT DO NOTHING
  RETURNING id
), uv AS (
  UPDATE conversations SET last_message_at = $4 WHERE id = $6 AND NOT $8 RETURNING id
), thread AS (
  SELECT id FROM nv UNION ALL SELECT id FROM uv
), m AS (
  INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, kind, content,
    wamid, context_wamid, status, error_code, error_title, sent_at, status_at, created_at)
  SELECT $9, $2, thread.id, $1, 'outbound', $10, $11, NULL, $12, 'queued', NULL, '', $4, $4, $4
  FROM thread
  RETURNING id
), s AS (
  INSERT INTO sends (message_id, tenant_id, phone_number_id, body, state, attempts,
    next_attempt_at, last_error_code, last_error, created_at, updated_at, media_id)
  SELECT m.id, $2, $7, $13, 'queued', 0, $4, NULL, '', $4, $4, $14 FROM m
  RETURNING 1
)
SELECT count(*) AS n FROM s"#;
    let m = send.message;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            m.contact_id.clone().into(),
            send.tenant.to_string().into(),
            send.wa_id.to_string().into(),
            send.now.into(),
            send.new_contact.into(),
            m.conversation_id.clone().into(),
            send.number.to_string().into(),
            send.new_conversation.into(),
            m.id.clone().into(),
            m.kind.clone().into(),
            m.content.clone().into(),
            m.context_wamid.clone().into(),
            send.body.to_string().into(),
            send.media_id.clone().into(),
        ],
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the send statement's count".into()))?;
    Ok(row.try_get::<i64>("", "n")? == 1)
}

/// The same rows as ordinary statements in one transaction (SQLite, and
/// PostgreSQL when a contact or conversation raced): a contact or
/// conversation made meanwhile by another request is the one used.
async fn in_transaction(
    db: &DatabaseConnection,
    send: &NewSend<'_>,
) -> Result<message::Model, DbErr> {
    let txn = db.begin().await?;
    let mut message = send.message.clone();
    let now = send.now;
    if send.new_contact {
        let who = WaContact {
            profile: Default::default(),
            wa_id: Some(send.wa_id.to_string()),
            user_id: None,
        };
        message.contact_id = crate::threads::new_contact(&txn, send.tenant, &who, now)
            .await?
            .id;
    }
    if send.new_conversation {
        message.conversation_id = crate::threads::new_conversation(
            &txn,
            send.tenant,
            &message.contact_id,
            send.number,
            now,
        )
        .await?
        .id;
    } else {
        conversation::Entity::update_many()
            .col_expr(conversation::Column::LastMessageAt, Expr::value(now))
            .filter(conversation::Column::Id.eq(&message.conversation_id))
            .exec(&txn)
            .await?;
    }
    message::Entity::insert(message::ActiveModel {
        id: Set(message.id.clone()),
        tenant_id: Set(message.tenant_id.clone()),
        conversation_id: Set(message.conversation_id.clone()),
        contact_id: Set(message.contact_id.clone()),
        direction: Set(message.direction.clone()),
        kind: Set(message.kind.clone()),
        content: Set(message.content.clone()),
        wamid: Set(None),
        context_wamid: Set(message.context_wamid.clone()),
        status: Set(message.status.clone()),
        error_code: Set(None),
        error_title: Set(String::new()),
        sent_at: Set(now),
        status_at: Set(now),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    send::Entity::insert(send::ActiveModel {
        message_id: Set(message.id.clone()),
        tenant_id: Set(message.tenant_id.clone()),
        phone_number_id: Set(send.number.to_string()),
        body: Set(send.body.to_string()),
        state: Set("queued".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error_code: Set(None),
        last_error: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        media_id: Set(send.media_id.clone()),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(message)
}

/// Records Meta's acceptance of `row` in one PostgreSQL statement: the
/// message's wamid and the send's state. Whether a status of that wamid is
/// waiting to be applied (Meta posted it before this ran).
pub async fn accepted_postgres(
    db: &impl ConnectionTrait,
    row: &send::Model,
    wamid: &str,
) -> Result<bool, DbErr> {
    // The last error stays: "accepted after 131000" is worth knowing.
    const SQL: &str = r#"
WITH m AS (
  UPDATE messages SET wamid = $1 WHERE id = $2 RETURNING 1
), s AS (
  UPDATE sends SET state = 'accepted', updated_at = $3 WHERE message_id = $2 RETURNING 1
)
SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM s) AS n,
  EXISTS (SELECT 1 FROM message_statuses
          WHERE wamid = $1 AND tenant_id = $4 AND NOT applied) AS pending"#;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            wamid.into(),
            row.message_id.clone().into(),
            Utc::now().into(),
            row.tenant_id.clone().into(),
        ],
    );
    let answer = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the acceptance statement's answer".into()))?;
    answer.try_get::<bool>("", "pending")
}
