//! Holds nobody finished. The dispatcher settles or releases every hold it
//! takes, but a crash between reserving and sending, or a message Meta drops
//! silently, would keep a tenant's money held for ever. Meta retries an
//! undelivered message for 30 days and then drops it without a webhook
//! (META_API.md §5), so a hold still open after [`HOLD_TTL`] can no longer
//! be billed: it is released, through the wallet writer like any release.

use std::time::Duration;

use aerostic_kit::ids::TenantId;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::billing_hold;
use crate::wallet::{Op, Outcome};
use crate::writer::Wallets;

/// How long a hold may wait for Meta's outcome: its 30 days of retries and a day.
pub const HOLD_TTL: Duration = Duration::from_secs(31 * 24 * 3600);
/// How often the sweep runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Most holds released per round.
const ROUND: u64 = 500;

/// Releases up to one round of holds taken before `before`; how many it released.
pub async fn sweep_once(
    db: &DatabaseConnection,
    wallets: &Wallets,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<usize, DbErr> {
    let stale = billing_hold::Entity::find()
        .filter(billing_hold::Column::CreatedAt.lt(before))
        .order_by_asc(billing_hold::Column::CreatedAt)
        .limit(ROUND)
        .all(db)
        .await?;
    let mut released = 0;
    for hold in stale {
        let (Ok(tenant), Ok(message_id)) =
            (hold.tenant_id.parse::<TenantId>(), hold.message_id.parse())
        else {
            continue;
        };
        let op = Op::Release {
            message_id,
            reason: "expired: no outcome from Meta within 31 days".into(),
        };
        match wallets.run(tenant, op).await {
            Ok(Outcome::Applied(..)) => released += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing an expired hold failed; next round retries")
            }
        }
    }
    Ok(released)
}

/// Sweeps every [`SWEEP_EVERY`] until the task is aborted.
pub fn spawn(db: DatabaseConnection, wallets: Wallets) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let ttl = chrono::Duration::from_std(HOLD_TTL).expect("a small duration");
        loop {
            match sweep_once(&db, &wallets, chrono::Utc::now() - ttl).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(released = n, "expired holds released");
                    metrics::counter!("aerostic_billing_expired_holds_total").increment(n as u64);
                }
                Err(e) => tracing::warn!(error = %e, "the hold sweep failed"),
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    })
}
