//! The send path's writes, each the fewest round trips its backend allows.
//!
//! On PostgreSQL new sends (their contacts and conversations when new, the
//! messages, their send rows) are one statement for all those asked at the
//! same moment, and so are claims and acceptances (the wamid, the state, and
//! whether a status came first): a statement is atomic by itself, so none
//! needs `BEGIN`/`COMMIT`, and a batch shares one commit. A measured send was
//! about fifteen round trips before; each costs PostgreSQL and the
//! dispatcher more CPU than the row it writes (BENCHMARKS.md). SQLite, one
//! process with nothing to wait for on the wire, writes the same rows in a
//! transaction of ordinary statements. Both paths run the same tests.

use aerostic_kit::batch::Batcher;
use aerostic_kit::ids::TenantId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement,
};

use crate::entity::{conversation, message, send};
use crate::payload::WaContact;

/// A send to record: the message as it will read, and where it goes.
#[derive(Debug, Clone)]
pub struct NewSend {
    /// Its tenant.
    pub tenant: TenantId,
    /// The message row (its contact and conversation ids decided).
    pub message: message::Model,
    /// The recipient (a new contact's wa_id).
    pub wa_id: String,
    /// Whether the contact is new (inserted with `message.contact_id`).
    pub new_contact: bool,
    /// Whether the conversation is new (inserted with `message.conversation_id`).
    pub new_conversation: bool,
    /// The number it goes out on.
    pub number: String,
    /// Meta's request body.
    pub body: String,
    /// Our media to upload before sending, if any.
    pub media_id: Option<String>,
    /// When it was asked.
    pub now: DateTime<Utc>,
}

/// Writes new sends: on PostgreSQL the sends asked at the same moment go
/// in one statement (group commit); on SQLite each in its transaction.
#[derive(Clone)]
pub struct Recorder {
    db: DatabaseConnection,
    batches: Option<Batcher<NewSend, message::Model, DbErr>>,
}

use aerostic_kit::db::QuickDb;
use aerostic_kit::db::batched::on_postgres_lingering;

/// Most sends written by one statement.
pub const BATCH: usize = 128;
/// Statements writing sends at once. Fewer statements in flight make each
/// carry more sends: two against four, six interleaved pairs (BENCHMARKS.md,
/// 2026-12-05), sent 10 % more end to end with a third off the API's p99
/// (with the send rows' two). One did better still on average but not in
/// every pair, and would leave every send waiting behind one slow statement.
const LANES: usize = 2;
/// How long a statement waits for more sends while they come often
/// (`Batcher::spawn_lingering`). Its callers are waiting, but on
/// a busy machine fewer statements cost less than the wait: at a paced
/// 1,000 sends/s, with the contact reads' linger, a third off the API's
/// p99 in three pairs (BENCHMARKS.md, 2026-12-06). An idle send waits
/// for nothing.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

impl Recorder {
    /// Writes to `quick`'s database (batching on PostgreSQL).
    pub fn new(quick: QuickDb) -> Self {
        let batches = on_postgres_lingering(
            &quick,
            BATCH,
            LANES,
            LINGER,
            |quick, sends: Vec<NewSend>| async move {
                write_batch(&quick, quick.regular(), sends).await
            },
        );
        Self {
            db: quick.regular().clone(),
            batches,
        }
    }

    /// Writes `send`: message, send row, and the contact and conversation
    /// when new. The contact and conversation really written are the
    /// message's (another request may have made them first).
    pub async fn new_send(&self, send: NewSend) -> Result<message::Model, DbErr> {
        match &self.batches {
            Some(batches) => batches
                .submit(send)
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))?,
            None => in_transaction(&self.db, &send).await,
        }
    }
}

/// Writes `send` alone (see [`Recorder::new_send`]).
pub async fn new_send(db: &DatabaseConnection, send: &NewSend) -> Result<message::Model, DbErr> {
    let written = new_sends(db, vec![send.clone()]).await;
    written.into_iter().next().expect("one answer per send")
}

/// Writes `sends` as one batch (see [`Recorder::new_send`]); an answer each.
pub async fn new_sends(
    db: &DatabaseConnection,
    sends: Vec<NewSend>,
) -> Vec<Result<message::Model, DbErr>> {
    if db.get_database_backend() == DbBackend::Postgres {
        return write_batch(db, db, sends).await;
    }
    let mut answers = Vec::with_capacity(sends.len());
    for send in &sends {
        answers.push(in_transaction(db, send).await);
    }
    answers
}

/// A batch: one statement for all; the few whose new contact or
/// conversation was made meanwhile by another request (nothing of theirs
/// is written by it) then go through the transaction path, which joins them.
async fn write_batch(
    one: &impl ConnectionTrait,
    db: &DatabaseConnection,
    sends: Vec<NewSend>,
) -> Vec<Result<message::Model, DbErr>> {
    let written = match one_statement(one, &sends).await {
        Ok(written) => written,
        Err(e) => return aerostic_kit::db::batched::failed_each(sends.len(), &e),
    };
    let mut answers = Vec::with_capacity(sends.len());
    for send in sends {
        if written.contains(&send.message.id) {
            answers.push(Ok(send.message));
        } else {
            answers.push(in_transaction(db, &send).await);
        }
    }
    answers
}

/// The sends in one PostgreSQL statement (the rows travel as JSON, so the
/// text is the same for any batch and is planned once); the ids of the
/// messages written. Existing conversations are reached by `= ANY` of
/// their ids, an index condition, never by a join the planner may turn into
/// a scan of the table (`crate::send_rows`).
async fn one_statement(
    db: &impl ConnectionTrait,
    sends: &[NewSend],
) -> Result<std::collections::HashSet<String>, DbErr> {
    const SQL: &str = r#"
WITH x AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id varchar, tenant_id varchar,
    contact_id varchar, conversation_id varchar, wa_id varchar, new_contact boolean,
    new_conversation boolean, number varchar, kind varchar, content text,
    context_wamid varchar, body text, media_id varchar, at timestamptz)
), nc AS (
  INSERT INTO contacts (id, tenant_id, wa_id, bsuid, profile_name, opted_out, opted_out_at,
    opt_out_source, created_at, updated_at)
  SELECT contact_id, tenant_id, wa_id, NULL, '', false, NULL, '', at, at FROM x WHERE new_contact
  ON CONFLICT DO NOTHING
  RETURNING id
), nv AS (
  INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, status, assignee_id,
    unread_count, last_inbound_at, last_message_at, created_at)
  SELECT conversation_id, tenant_id, contact_id, number, 'open', NULL, 0, NULL, at, at FROM x
  WHERE new_conversation AND (NOT new_contact OR contact_id IN (SELECT id FROM nc))
  ON CONFLICT DO NOTHING
  RETURNING id
), uv AS (
  UPDATE conversations c SET last_message_at = x.at FROM x
  WHERE c.id = ANY (ARRAY(SELECT conversation_id FROM x WHERE NOT new_conversation))
    AND c.id = x.conversation_id AND NOT x.new_conversation
  RETURNING c.id
), ok AS (
  SELECT * FROM x WHERE conversation_id IN (SELECT id FROM nv UNION ALL SELECT id FROM uv)
), m AS (
  INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, kind, content,
    wamid, context_wamid, status, error_code, error_title, sent_at, status_at, created_at)
  SELECT id, tenant_id, conversation_id, contact_id, 'outbound', kind, content, NULL,
    context_wamid, 'queued', NULL, '', at, at, at FROM ok
  RETURNING id
)
INSERT INTO sends (message_id, tenant_id, phone_number_id, body, state, attempts,
  next_attempt_at, last_error_code, last_error, created_at, updated_at, media_id, new_recipient)
SELECT ok.id, ok.tenant_id, ok.number, ok.body, 'queued', 0, ok.at, NULL, '', ok.at, ok.at,
  ok.media_id, ok.new_contact
FROM ok JOIN m ON m.id = ok.id
RETURNING message_id"#;
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: &'a str,
        tenant_id: &'a str,
        contact_id: &'a str,
        conversation_id: &'a str,
        wa_id: &'a str,
        new_contact: bool,
        new_conversation: bool,
        number: &'a str,
        kind: &'a str,
        content: &'a str,
        context_wamid: Option<&'a str>,
        body: &'a str,
        media_id: Option<&'a str>,
        at: DateTime<Utc>,
    }
    let rows: Vec<Row> = sends
        .iter()
        .map(|s| Row {
            id: &s.message.id,
            tenant_id: &s.message.tenant_id,
            contact_id: &s.message.contact_id,
            conversation_id: &s.message.conversation_id,
            wa_id: &s.wa_id,
            new_contact: s.new_contact,
            new_conversation: s.new_conversation,
            number: &s.number,
            kind: &s.message.kind,
            content: &s.message.content,
            context_wamid: s.message.context_wamid.as_deref(),
            body: &s.body,
            media_id: s.media_id.as_deref(),
            at: s.now,
        })
        .collect();
    let rows = aerostic_kit::db::batched::json_rows(&rows)?;
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, SQL, [rows.into()]);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "message_id"))
        .collect()
}

/// The same rows as ordinary statements in one transaction (SQLite, and
/// PostgreSQL when a contact or conversation raced): a contact or
/// conversation made meanwhile by another request is the one used.
async fn in_transaction(db: &DatabaseConnection, send: &NewSend) -> Result<message::Model, DbErr> {
    let txn = aerostic_kit::db::begin_write(db).await?;
    let mut message = send.message.clone();
    let now = send.now;
    if send.new_contact {
        let who = WaContact {
            profile: Default::default(),
            wa_id: Some(send.wa_id.clone()),
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
            &send.number,
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
        phone_number_id: Set(send.number.clone()),
        body: Set(send.body.clone()),
        state: Set("queued".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error_code: Set(None),
        last_error: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        media_id: Set(send.media_id.clone()),
        // New when asked: two racing first sends to a number both count.
        new_recipient: Set(send.new_contact),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(message)
}
