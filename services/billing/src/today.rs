//! The day's outbound count of a tenant, read for every send (the plan's
//! messages per day). On PostgreSQL the reads asked at the same moment
//! share one statement, whichever tenants they are for: a read per send
//! was a round trip per send (BENCHMARKS.md). A batched read starts after
//! each of its requests arrived, so it answers what a read of its own would.

use std::collections::HashMap;

use aerostic_kit::batch::Batcher;
use aerostic_kit::db::QuickDb;
use aerostic_kit::db::batched::{answer_each, json_rows, on_postgres, stopped};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::usage::{self, OUTBOUND_PREFIX};

/// Most reads in one statement.
const BATCH: usize = 256;
/// Statements at once.
const LANES: usize = 2;

/// Reads of the day's outbound count.
#[derive(Clone)]
pub struct TodayReads {
    quick: QuickDb,
    batches: Option<Batcher<String, i64, DbErr>>,
}

impl TodayReads {
    /// Reads through `quick` (batched on PostgreSQL).
    pub fn new(quick: QuickDb) -> Self {
        let batches = on_postgres(
            &quick,
            BATCH,
            LANES,
            |quick, tenants: Vec<String>| async move {
                let counts = outbound_today_of(&quick, &tenants).await;
                answer_each(counts, &tenants, |counts, t| {
                    counts.get(t).copied().unwrap_or(0)
                })
            },
        );
        Self { quick, batches }
    }

    /// Outbound messages `tenant` sent today, every category together.
    pub async fn outbound_today(&self, tenant: &str) -> Result<i64, DbErr> {
        match &self.batches {
            Some(batches) => stopped(batches.submit(tenant.to_string()).await),
            None => usage::outbound_today(&self.quick, tenant).await,
        }
    }
}

/// Today's outbound count of each of `tenants` that sent anything today.
async fn outbound_today_of(
    db: &impl ConnectionTrait,
    tenants: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    // `= ANY` of an array: an index condition on the counters' primary key.
    const SQL: &str = r#"
SELECT tenant_id, SUM(quantity)::bigint AS n FROM usage_counters
WHERE tenant_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
  AND period = $2 AND starts_with(metric, $3)
GROUP BY tenant_id"#;
    let tenants = json_rows(tenants)?;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            tenants.into(),
            usage::day_key(Utc::now()).into(),
            OUTBOUND_PREFIX.into(),
        ],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "tenant_id")?, row.try_get("", "n")?)))
        .collect()
}
