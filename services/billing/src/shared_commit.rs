//! Several wallets' batches appended in one PostgreSQL statement. Ten
//! wallets sending 100 messages a second each rarely had two of their own
//! operations waiting together, so a commit per wallet was nearly a commit
//! (a WAL flush, a woken backend) per message; one statement for every
//! wallet that is waiting shares it. The statement is atomic, so one
//! wallet's collision (two replicas writing it) would fail the others'
//! batches too: when it fails, each batch is tried again alone, and only the
//! colliding wallet's writer sees the error and replays (crate::writer).

use aerostic_kit::db::batched::json_rows;
use aerostic_kit::ids::TenantId;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::store::{Batch, StoreError, classify, clip};

/// Appends every wallet's batch of `items` on PostgreSQL in one statement,
/// answering each; if that fails, each alone (at once), so each wallet gets
/// its own answer and a collision fails only the colliding wallet.
pub async fn commit_together(
    db: &impl ConnectionTrait,
    items: &[(TenantId, Batch)],
) -> Vec<Result<(), DbErr>> {
    let all: Vec<(TenantId, &Batch)> = items.iter().map(|(t, b)| (*t, b)).collect();
    match commit_postgres(db, &all).await {
        Ok(()) => return items.iter().map(|_| Ok(())).collect(),
        Err(e) if items.len() == 1 => return vec![Err(e.into_db())],
        Err(_) => {}
    }
    let alone = all
        .iter()
        .map(|one| commit_postgres(db, std::slice::from_ref(one)));
    futures::future::join_all(alone)
        .await
        .into_iter()
        .map(|r| r.map_err(StoreError::into_db))
        .collect()
}

/// Appends every `(tenant, batch)` of `batches` in one statement (atomic by
/// itself, one round trip): the rows travel as JSON and
/// `jsonb_to_recordset` turns them back into rows, so the statement text
/// never changes with the batch's size and PostgreSQL plans it once, where a
/// `VALUES` list of thousands of parameters cost about 0.2 ms a row to parse
/// and plan. A unique key hit is a [`StoreError::Conflict`].
pub(crate) async fn commit_postgres(
    db: &impl ConnectionTrait,
    batches: &[(TenantId, &Batch)],
) -> Result<(), StoreError> {
    let rows = Rows::of(batches);
    if rows.transactions.is_empty() {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            json_rows(&rows.transactions)?.into(),
            json_rows(&rows.postings)?.into(),
            json_rows(&rows.holds)?.into(),
            json_rows(&rows.ended)?.into(),
            crate::usage::day_key(chrono::Utc::now()).into(),
            json_rows(&rows.counts)?.into(),
            json_rows(&rows.events)?.into(),
            json_rows(&rows.alerts)?.into(),
        ],
    );
    db.query_one_raw(statement).await.map_err(classify)?;
    Ok(())
}

const SQL: &str = r#"
WITH t AS (
  INSERT INTO ledger_transactions (id, tenant_id, seq, kind, reference, currency, amount,
    available_after, held_after, detail, created_at)
  SELECT id, tenant_id, seq, kind, reference, currency, amount, available_after, held_after,
    detail, created_at
  FROM jsonb_to_recordset($1::jsonb) AS x(id varchar, tenant_id varchar, seq bigint,
    kind varchar, reference varchar, currency varchar, amount bigint, available_after bigint,
    held_after bigint, detail varchar, created_at timestamptz)
  RETURNING 1
), p AS (
  INSERT INTO ledger_postings (transaction_id, account, amount, currency, created_at)
  SELECT transaction_id, account, amount, currency, created_at
  FROM jsonb_to_recordset($2::jsonb) AS x(transaction_id varchar, account varchar,
    amount bigint, currency varchar, created_at timestamptz)
  RETURNING 1
), h AS (
  INSERT INTO billing_holds (tenant_id, message_id, amount, base_amount, markup_amount,
    reseller_id, category, created_at)
  SELECT tenant_id, message_id, amount, base_amount, markup_amount, reseller_id, category, now()
  FROM jsonb_to_recordset($3::jsonb) AS x(tenant_id varchar, message_id varchar,
    amount bigint, base_amount bigint, markup_amount bigint, reseller_id varchar,
    category varchar)
  ON CONFLICT DO NOTHING
  RETURNING 1
), d AS (
  DELETE FROM billing_holds
  WHERE (tenant_id, message_id) IN (
    SELECT tenant_id, message_id
    FROM jsonb_to_recordset($4::jsonb) AS x(tenant_id varchar, message_id varchar))
  RETURNING 1
), u AS (
  -- Summed per key: one statement may not update a counter twice.
  INSERT INTO usage_counters (tenant_id, metric, period, quantity)
  SELECT tenant_id, metric, $5, sum(quantity)
  FROM jsonb_to_recordset($6::jsonb) AS x(tenant_id varchar, metric varchar, quantity bigint)
  GROUP BY tenant_id, metric
  ON CONFLICT (tenant_id, metric, period)
  DO UPDATE SET quantity = usage_counters.quantity + excluded.quantity
  RETURNING 1
), o AS (
  INSERT INTO billing_outbox (id, topic, headers, payload, created_at)
  SELECT id, topic, headers, convert_to(payload, 'UTF8'), now()
  FROM jsonb_to_recordset($7::jsonb) AS x(id varchar, topic varchar, headers text, payload text)
  RETURNING 1
), s AS (
  UPDATE wallet_settings w SET low_balance_notified = x.notified
  FROM jsonb_to_recordset($8::jsonb) AS x(tenant_id varchar, notified boolean)
  WHERE w.tenant_id = x.tenant_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM p) + (SELECT count(*) FROM h)
  + (SELECT count(*) FROM d) + (SELECT count(*) FROM u) + (SELECT count(*) FROM o)
  + (SELECT count(*) FROM s)"#;

/// The statement's rows, each naming its wallet.
#[derive(Default)]
struct Rows<'a> {
    transactions: Vec<TransactionRow<'a>>,
    postings: Vec<PostingRow<'a>>,
    holds: Vec<HoldRow<'a>>,
    ended: Vec<EndedRow>,
    counts: Vec<CountRow<'a>>,
    events: Vec<EventRow<'a>>,
    alerts: Vec<AlertRow>,
}

#[derive(serde::Serialize)]
struct TransactionRow<'a> {
    id: &'a str,
    tenant_id: String,
    seq: i64,
    kind: &'static str,
    reference: &'a str,
    currency: String,
    amount: i64,
    available_after: i64,
    held_after: i64,
    detail: &'a str,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize)]
struct PostingRow<'a> {
    transaction_id: &'a str,
    account: String,
    amount: i64,
    currency: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize)]
struct HoldRow<'a> {
    tenant_id: String,
    message_id: String,
    amount: i64,
    base_amount: i64,
    markup_amount: i64,
    reseller_id: Option<&'a str>,
    category: &'a str,
}

#[derive(serde::Serialize)]
struct EndedRow {
    tenant_id: String,
    message_id: String,
}

#[derive(serde::Serialize)]
struct CountRow<'a> {
    tenant_id: String,
    metric: &'a str,
    quantity: i64,
}

#[derive(serde::Serialize)]
struct EventRow<'a> {
    id: &'a str,
    topic: &'a str,
    headers: String,
    payload: std::borrow::Cow<'a, str>,
}

#[derive(serde::Serialize)]
struct AlertRow {
    tenant_id: String,
    notified: bool,
}

impl<'a> Rows<'a> {
    fn of(batches: &[(TenantId, &'a Batch)]) -> Self {
        let mut rows = Rows::default();
        for (tenant, batch) in batches {
            rows.add(&tenant.to_string(), batch);
        }
        rows
    }

    fn add(&mut self, tenant: &str, batch: &'a Batch) {
        for t in &batch.transactions {
            self.transactions.push(TransactionRow {
                id: &t.id,
                tenant_id: tenant.to_string(),
                seq: t.seq,
                kind: t.kind.as_str(),
                reference: &t.reference,
                currency: t.currency.to_string(),
                amount: t.amount,
                available_after: t.available_after,
                held_after: t.held_after,
                detail: clip(&t.detail, 500),
                created_at: t.created_at,
            });
            self.postings.extend(t.postings.iter().map(|p| PostingRow {
                transaction_id: &t.id,
                account: p.account.to_string(),
                amount: p.amount,
                currency: t.currency.to_string(),
                created_at: t.created_at,
            }));
        }
        self.holds.extend(
            batch
                .holds_added
                .iter()
                .filter(|h| !batch.holds_ended.contains(&h.message_id))
                .map(|h| HoldRow {
                    tenant_id: tenant.to_string(),
                    message_id: h.message_id.to_string(),
                    amount: h.price.total(),
                    base_amount: h.price.base,
                    markup_amount: h.price.markup,
                    reseller_id: h.reseller_id.as_deref(),
                    category: &h.category,
                }),
        );
        self.ended
            .extend(batch.holds_ended.iter().map(|m| EndedRow {
                tenant_id: tenant.to_string(),
                message_id: m.to_string(),
            }));
        self.counts
            .extend(batch.outbound.iter().map(|(metric, quantity)| CountRow {
                tenant_id: tenant.to_string(),
                metric,
                quantity: *quantity,
            }));
        if let Some(change) = &batch.alert {
            self.alerts.push(AlertRow {
                tenant_id: tenant.to_string(),
                notified: change.notified,
            });
            self.events.extend(change.event.iter().map(|e| EventRow {
                id: &e.id,
                topic: &e.topic,
                headers: serde_json::to_string(&e.headers).expect("string map serialises"),
                payload: String::from_utf8_lossy(&e.payload),
            }));
        }
    }
}
