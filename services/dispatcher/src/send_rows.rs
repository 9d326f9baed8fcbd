//! The send workers' writes on PostgreSQL, batched (`aerostic_kit::batch`):
//! the claims of every hand-off taken at the same moment are one statement,
//! and so are the acceptances Meta answered meanwhile. Under load a worker's
//! message then costs a share of two statements and two commits, where each
//! message alone cost two of each (and before, seven round trips). SQLite
//! keeps the plain statements of [`crate::deliver`].

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};

use aerostic_kit::batch::Batcher;
use aerostic_kit::db::batched::{answer_each, json_rows, on_postgres_lingering, stopped};

use crate::entity::send;

/// Most claims or acceptances in one statement.
const BATCH: usize = 128;
/// Statements of each kind at once (two: see the recorder's `LANES`).
const LANES: usize = 2;
/// How long a claim waits for others: the attempt it precedes is paced
/// anyway (a slot per 12.5 ms on a number at Meta's 80/s), and at a few
/// hundred sends a second claims otherwise went one statement each: at
/// 300/s the claim and the wamid's record were two of a send's five
/// statements (BENCHMARKS.md, 2026-12-06).
const CLAIM_LINGER: Duration = Duration::from_millis(2);
/// How long a wamid's record waits for others: nobody waits for it but
/// the message's `sent` status.
const ACCEPTANCE_LINGER: Duration = Duration::from_millis(10);

/// A wamid to record.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// Our message.
    pub message_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Meta's id for it.
    pub wamid: String,
}

/// Batched claims and acceptances of one PostgreSQL database.
#[derive(Clone)]
pub struct SendRows {
    claims: Batcher<String, Option<send::Model>, DbErr>,
    acceptances: Batcher<Acceptance, bool, DbErr>,
}

impl SendRows {
    /// Batches for `db`; `None` unless it is PostgreSQL.
    pub fn postgres(db: &DatabaseConnection) -> Option<Self> {
        // Their statements go back without sqlx's release ping (kit::db::quick).
        let quick = aerostic_kit::db::QuickDb::new(db);
        let claims = on_postgres_lingering(
            &quick,
            BATCH,
            LANES,
            CLAIM_LINGER,
            |db, ids: Vec<String>| async move {
                answer_each(claim_all(&db, &ids).await, &ids, |rows, id| {
                    rows.iter().find(|r| &r.message_id == id).cloned()
                })
            },
        )?;
        let acceptances = on_postgres_lingering(
            &quick,
            BATCH,
            LANES,
            ACCEPTANCE_LINGER,
            |db, accepted: Vec<Acceptance>| async move {
                let pending = accept_all(&db, &accepted).await;
                answer_each(pending, &accepted, |pending, a| {
                    pending.contains(&a.message_id)
                })
            },
        )?;
        Some(Self {
            claims,
            acceptances,
        })
    }

    /// Claims `message_id` if it is still queued and due: the row as
    /// claimed (its attempt counted), or `None`.
    pub async fn claim(&self, message_id: &str) -> Result<Option<send::Model>, DbErr> {
        stopped(self.claims.submit(message_id.to_string()).await)
    }

    /// Records `accepted`: whether a status of its wamid waits to be applied.
    pub async fn accept(&self, accepted: Acceptance) -> Result<bool, DbErr> {
        stopped(self.acceptances.submit(accepted).await)
    }
}

/// Claims the queued, due ones of `ids`; the rows claimed.
async fn claim_all(db: &impl ConnectionTrait, ids: &[String]) -> Result<Vec<send::Model>, DbErr> {
    // The rows are looked up by primary key (`= ANY` of an array is an
    // index condition), never by joining the batch to the table, which the
    // planner does with a scan of the whole table when it guesses the batch
    // big (16 ms a claim in the first measurement). `IS TRUE` keeps the
    // state test out of reach of the partial index (migration 15), which
    // would scan every queued row.
    const SQL: &str = r#"
UPDATE sends SET state = 'sending', attempts = sends.attempts + 1, updated_at = $2
WHERE sends.message_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
  AND (sends.state = 'queued') IS TRUE AND sends.next_attempt_at <= $2
RETURNING sends.*"#;
    let ids = json_rows(ids)?;
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, SQL, [ids.into(), Utc::now().into()]);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| send::Model::from_query_result(row, ""))
        .collect()
}

/// Records the wamids of `accepted`; the message ids with a status waiting.
async fn accept_all(
    db: &impl ConnectionTrait,
    accepted: &[Acceptance],
) -> Result<std::collections::HashSet<String>, DbErr> {
    // The last error stays: "accepted after 131000" is worth knowing. Each
    // table is reached through `= ANY` of the batch's keys (an index
    // condition), as in `claim_all`, and only then joined to the batch.
    const SQL: &str = r#"
WITH x AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(message_id varchar, tenant_id varchar,
    wamid varchar)
), m AS (
  UPDATE messages SET wamid = x.wamid FROM x
  WHERE messages.id = ANY (ARRAY(SELECT message_id FROM x)) AND messages.id = x.message_id
  RETURNING 1
), s AS (
  UPDATE sends SET state = 'accepted', updated_at = $2
  WHERE sends.message_id = ANY (ARRAY(SELECT message_id FROM x))
  RETURNING 1
)
SELECT DISTINCT x.message_id FROM x
JOIN message_statuses ms ON ms.wamid = x.wamid AND ms.tenant_id = x.tenant_id
WHERE ms.wamid = ANY (ARRAY(SELECT wamid FROM x)) AND NOT ms.applied"#;
    #[derive(serde::Serialize)]
    struct Row<'a> {
        message_id: &'a str,
        tenant_id: &'a str,
        wamid: &'a str,
    }
    let rows: Vec<Row> = accepted
        .iter()
        .map(|a| Row {
            message_id: &a.message_id,
            tenant_id: &a.tenant_id,
            wamid: &a.wamid,
        })
        .collect();
    let rows = json_rows(&rows)?;
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, SQL, [rows.into(), Utc::now().into()]);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "message_id"))
        .collect()
}
