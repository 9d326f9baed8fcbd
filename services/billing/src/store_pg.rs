//! Wallet batches on PostgreSQL: the batches of many wallets as one
//! statement, atomic by itself and one round trip and one commit for all.
//!
//! The rows travel as JSON and `jsonb_to_recordset` turns them back into
//! rows, so the statement text never changes with the batch's size and
//! PostgreSQL plans it once (a `VALUES` list of thousands of parameters cost
//! about 0.2 ms a row to parse and plan). Each row names its wallet, so one
//! statement carries the batches of every wallet ready at the same moment:
//! with many busy wallets a wallet's batch is often a single reservation,
//! and a statement and a commit per reservation cost PostgreSQL more than
//! the rows they write (BENCHMARKS.md).

use aerostic_kit::ids::TenantId;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::store::{Batch, StoreError, classify, clip};

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
  -- Both keys by = ANY, an index condition on the primary key (a join with
  -- the batch could be planned as a scan). Message ids are UUIDs, so no
  -- other wallet's hold matches a mixed pair.
  DELETE FROM billing_holds
  WHERE tenant_id = ANY (ARRAY(SELECT x->>0 FROM jsonb_array_elements($4::jsonb) AS x))
    AND message_id = ANY (ARRAY(SELECT x->>1 FROM jsonb_array_elements($4::jsonb) AS x))
  RETURNING 1
), o AS (
  INSERT INTO billing_outbox (id, topic, headers, payload, created_at)
  SELECT id, topic, headers, convert_to(payload, 'UTF8'), now()
  FROM jsonb_to_recordset($5::jsonb) AS x(id varchar, topic varchar, headers text, payload text)
  RETURNING 1
), s AS (
  UPDATE wallet_settings w SET low_balance_notified = x.notified
  FROM jsonb_to_recordset($6::jsonb) AS x(tenant_id varchar, notified boolean)
  WHERE w.tenant_id = x.tenant_id
  RETURNING 1
), u AS (
  INSERT INTO usage_counters (tenant_id, metric, period, quantity)
  SELECT tenant_id, metric, $7, quantity
  FROM jsonb_to_recordset($8::jsonb) AS x(tenant_id varchar, metric varchar, quantity bigint)
  ON CONFLICT (tenant_id, metric, period)
  DO UPDATE SET quantity = usage_counters.quantity + excluded.quantity
  RETURNING 1
)
SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM p) + (SELECT count(*) FROM h)
  + (SELECT count(*) FROM d) + (SELECT count(*) FROM u) + (SELECT count(*) FROM o)
  + (SELECT count(*) FROM s)"#;

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

#[derive(serde::Serialize)]
struct CountRow {
    tenant_id: String,
    metric: String,
    quantity: i64,
}

/// The rows of every batch, each naming its wallet.
#[derive(Default)]
struct Rows<'a> {
    transactions: Vec<TransactionRow<'a>>,
    postings: Vec<PostingRow<'a>>,
    holds: Vec<HoldRow<'a>>,
    /// (tenant, message) pairs.
    ended: Vec<(String, String)>,
    events: Vec<EventRow<'a>>,
    alerts: Vec<AlertRow>,
    counts: Vec<CountRow>,
}

impl<'a> Rows<'a> {
    fn add(&mut self, tenant: TenantId, batch: &'a Batch) {
        let tenant_id = tenant.to_string();
        for t in &batch.transactions {
            self.transactions.push(TransactionRow {
                id: &t.id,
                tenant_id: tenant_id.clone(),
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
                    tenant_id: tenant_id.clone(),
                    message_id: h.message_id.to_string(),
                    amount: h.price.total(),
                    base_amount: h.price.base,
                    markup_amount: h.price.markup,
                    reseller_id: h.reseller_id.as_deref(),
                    category: &h.category,
                }),
        );
        self.ended.extend(
            batch
                .holds_ended
                .iter()
                .map(|m| (tenant_id.clone(), m.to_string())),
        );
        if let Some(change) = &batch.alert {
            self.alerts.push(AlertRow {
                tenant_id: tenant_id.clone(),
                notified: change.notified,
            });
            self.events.extend(change.event.iter().map(|e| EventRow {
                id: &e.id,
                topic: &e.topic,
                headers: serde_json::to_string(&e.headers).expect("string map serialises"),
                payload: String::from_utf8_lossy(&e.payload),
            }));
        }
        self.counts.extend(
            batch
                .counts()
                .into_iter()
                .map(|(metric, quantity)| CountRow {
                    tenant_id: tenant_id.clone(),
                    metric,
                    quantity,
                }),
        );
    }
}

/// Appends every batch of `batches` (at most one per wallet) in one
/// statement; a unique key hit anywhere is a [`StoreError::Conflict`] and
/// stores nothing.
pub async fn commit_many(
    db: &DatabaseConnection,
    batches: &[(TenantId, &Batch)],
) -> Result<(), StoreError> {
    let mut rows = Rows::default();
    for (tenant, batch) in batches {
        rows.add(*tenant, batch);
    }
    if rows.transactions.is_empty() {
        return Ok(());
    }
    fn json<T: serde::Serialize>(rows: &T) -> String {
        serde_json::to_string(rows).expect("rows serialise")
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            json(&rows.transactions).into(),
            json(&rows.postings).into(),
            json(&rows.holds).into(),
            json(&rows.ended).into(),
            json(&rows.events).into(),
            json(&rows.alerts).into(),
            crate::usage::day_key(chrono::Utc::now()).into(),
            json(&rows.counts).into(),
        ],
    );
    db.query_one_raw(statement).await.map_err(classify)?;
    Ok(())
}
