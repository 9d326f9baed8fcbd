//! The recipient's contact, looked up for every send by `to`. On
//! PostgreSQL the lookups asked at the same moment share one statement,
//! whichever tenants they are for: a lookup per send was a round trip per
//! send (BENCHMARKS.md). A batched lookup starts after each of its requests
//! arrived, so it finds what a lookup of its own would.

use aerostic_kit::batch::Batcher;
use aerostic_kit::db::QuickDb;
use aerostic_kit::db::batched::{answer_each, json_rows, on_postgres_lingering, stopped};
use aerostic_kit::ids::TenantId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    Statement,
};

use crate::entity::contact;

/// Most lookups in one statement.
const BATCH: usize = 256;
/// Statements at once.
const LANES: usize = 2;
/// How long a lookup waits for others while they come often (see the
/// recorder's `LINGER`).
const LINGER: std::time::Duration = std::time::Duration::from_micros(500);

/// A lookup: the tenant and the recipient's wa_id.
type Key = (String, String);

/// Contact lookups by tenant and wa_id.
#[derive(Clone)]
pub struct ContactReads {
    quick: QuickDb,
    batches: Option<Batcher<Key, Option<contact::Model>, DbErr>>,
}

impl ContactReads {
    /// Lookups through `quick` (batched on PostgreSQL).
    pub fn new(quick: QuickDb) -> Self {
        let batches = on_postgres_lingering(
            &quick,
            BATCH,
            LANES,
            LINGER,
            |quick, keys: Vec<Key>| async move {
                answer_each(contacts_of(&quick, &keys).await, &keys, |found, (t, w)| {
                    let mine =
                        |c: &&contact::Model| &c.tenant_id == t && c.wa_id.as_ref() == Some(w);
                    found.iter().find(mine).cloned()
                })
            },
        );
        Self { quick, batches }
    }

    /// `tenant`'s contact with `wa_id`, if it has one.
    pub async fn find(
        &self,
        tenant: TenantId,
        wa_id: &str,
    ) -> Result<Option<contact::Model>, DbErr> {
        match &self.batches {
            Some(batches) => stopped(
                batches
                    .submit((tenant.to_string(), wa_id.to_string()))
                    .await,
            ),
            None => {
                contact::Entity::find()
                    .filter(contact::Column::TenantId.eq(tenant.to_string()))
                    .filter(contact::Column::WaId.eq(wa_id))
                    .one(&self.quick)
                    .await
            }
        }
    }
}

/// The contacts of the pairs of `keys` that exist.
async fn contacts_of(
    db: &impl ConnectionTrait,
    keys: &[Key],
) -> Result<Vec<contact::Model>, DbErr> {
    // One probe of the `(tenant_id, wa_id)` unique index per pair: the
    // lateral subquery's `LIMIT` keeps the planner from flattening it into
    // a join it might plan as a scan of the table. Both columns by
    // `= ANY` of arrays was a probe per tenant and wa_id combination
    // (3.9 ms a batch of five under load).
    const SQL: &str = r#"
SELECT c.* FROM jsonb_to_recordset($1::jsonb) AS x(t varchar, w varchar)
CROSS JOIN LATERAL (
  SELECT * FROM contacts WHERE contacts.tenant_id = x.t AND contacts.wa_id = x.w LIMIT 1
) c"#;
    #[derive(serde::Serialize)]
    struct Pair<'a> {
        t: &'a str,
        w: &'a str,
    }
    let pairs: Vec<Pair> = keys.iter().map(|(t, w)| Pair { t, w }).collect();
    let pairs = json_rows(&pairs)?;
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, SQL, [pairs.into()]);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| contact::Model::from_query_result(row, ""))
        .collect()
}
