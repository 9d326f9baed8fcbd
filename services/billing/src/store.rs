//! The ledger in the database: load a wallet, read what happened to
//! messages, and append a batch of transactions in one database transaction.

use std::collections::{BTreeMap, HashMap};

use aerostic_kit::broker::Envelope;
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_kit::outbox::Outbox;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};

use crate::entity::{billing_hold, ledger_posting, ledger_transaction};
use crate::ledger::{Account, Kind, Transaction};
use crate::money::{Currency, Price};
use crate::wallet::{Hold, MessageState, WalletState};

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the wallet, or a movement already happened.
    #[error("conflict: {0}")]
    Conflict(DbErr),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

impl StoreError {
    /// The database's error, whichever kind.
    pub(crate) fn into_db(self) -> DbErr {
        match self {
            StoreError::Conflict(e) | StoreError::Database(e) => e,
        }
    }
}

pub(crate) fn classify(e: DbErr) -> StoreError {
    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        StoreError::Conflict(e)
    } else {
        StoreError::Database(e)
    }
}

/// A wallet as the ledger has it: its newest transaction's balances and the
/// holds of its messages in flight. A wallet with no transaction is empty,
/// in `currency`.
pub async fn load(
    db: &DatabaseConnection,
    tenant: TenantId,
    currency: Currency,
) -> Result<WalletState, DbErr> {
    let mut state = balances(db, tenant, currency).await?;
    let holds = billing_hold::Entity::find()
        .filter(billing_hold::Column::TenantId.eq(tenant.to_string()))
        .all(db)
        .await?;
    for h in holds {
        let Ok(message_id) = h.message_id.parse() else {
            continue;
        };
        state.holds.insert(message_id, hold_of(&h, message_id));
    }
    Ok(state)
}

/// A wallet's balances from its newest transaction, without its holds (what
/// reading a balance needs).
pub async fn balances(
    db: &DatabaseConnection,
    tenant: TenantId,
    currency: Currency,
) -> Result<WalletState, DbErr> {
    let newest = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::TenantId.eq(tenant.to_string()))
        .order_by_desc(ledger_transaction::Column::Seq)
        .one(db)
        .await?;
    let mut state = WalletState::empty(tenant, currency);
    if let Some(tx) = newest {
        state.seq = tx.seq;
        state.available = tx.available_after;
        state.held = tx.held_after;
        state.currency = Currency::parse(&tx.currency).unwrap_or(currency);
    }
    Ok(state)
}

fn hold_of(h: &billing_hold::Model, message_id: MessageId) -> Hold {
    Hold {
        message_id,
        price: Price {
            base: h.base_amount,
            markup: h.markup_amount,
        },
        reseller_id: h.reseller_id.clone(),
        category: h.category.clone(),
    }
}

/// Where each of `messages` stands according to the ledger (messages it
/// never saw are absent).
pub async fn pasts(
    db: &DatabaseConnection,
    tenant: TenantId,
    messages: &[MessageId],
) -> Result<HashMap<MessageId, MessageState>, DbErr> {
    if messages.is_empty() {
        return Ok(HashMap::new());
    }
    let references: Vec<String> = messages.iter().map(ToString::to_string).collect();
    let txs = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::TenantId.eq(tenant.to_string()))
        .filter(ledger_transaction::Column::Reference.is_in(references))
        .filter(ledger_transaction::Column::Kind.is_in(["reserve", "settle", "release", "refund"]))
        .order_by_asc(ledger_transaction::Column::Seq)
        .all(db)
        .await?;
    let settle_ids: Vec<String> = txs
        .iter()
        .filter(|t| t.kind == Kind::Settle.as_str())
        .map(|t| t.id.clone())
        .collect();
    let mut settle_postings: HashMap<String, Vec<ledger_posting::Model>> = HashMap::new();
    if !settle_ids.is_empty() {
        for p in ledger_posting::Entity::find()
            .filter(ledger_posting::Column::TransactionId.is_in(settle_ids))
            .all(db)
            .await?
        {
            settle_postings
                .entry(p.transaction_id.clone())
                .or_default()
                .push(p);
        }
    }
    let mut out = HashMap::new();
    for tx in txs {
        let Ok(message_id) = tx.reference.parse::<MessageId>() else {
            continue;
        };
        let plain = Hold {
            message_id,
            price: Price {
                base: tx.amount,
                markup: 0,
            },
            reseller_id: None,
            category: String::new(),
        };
        let state = match Kind::parse(&tx.kind) {
            Some(Kind::Reserve) => MessageState::Held(plain),
            Some(Kind::Settle) => MessageState::Settled(earned(
                plain,
                settle_postings
                    .get(&tx.id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            )),
            Some(Kind::Release) => MessageState::Released(plain),
            Some(Kind::Refund) => MessageState::Refunded(plain),
            _ => continue,
        };
        out.insert(message_id, state);
    }
    Ok(out)
}

/// A settled hold's split, read back from its settle postings.
fn earned(mut hold: Hold, postings: &[ledger_posting::Model]) -> Hold {
    for p in postings {
        if let Some(reseller) = p
            .account
            .strip_prefix("reseller:")
            .and_then(|r| r.strip_suffix(":margin"))
        {
            hold.reseller_id = Some(reseller.to_string());
            hold.price.markup = p.amount;
        }
    }
    hold.price.base -= hold.price.markup;
    hold
}

/// What reseller `reseller` earned: the sum of its margin postings (the
/// ledger keeps no balance row for a reseller's account; it is read as a sum).
pub async fn reseller_margin(db: &DatabaseConnection, reseller: &str) -> Result<i64, DbErr> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let account = Account::ResellerMargin(reseller.to_string()).to_string();
    let sum = Query::select()
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"),
            Alias::new("total"),
        )
        .from(Alias::new("ledger_postings"))
        .and_where(Expr::col(Alias::new("account")).eq(account))
        // The index by account is partial, on exactly this predicate
        // (migration 19): written out, it lets both databases use it.
        .and_where(Expr::cust("account LIKE 'reseller:%'"))
        .to_owned();
    let row = db.query_one(&sum).await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "total"))
        .transpose()?
        .unwrap_or(0))
}

/// A transaction already recorded under `kind` and `reference`.
pub async fn recorded(
    db: &DatabaseConnection,
    tenant: TenantId,
    kind: Kind,
    reference: &str,
) -> Result<Option<ledger_transaction::Model>, DbErr> {
    ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::TenantId.eq(tenant.to_string()))
        .filter(ledger_transaction::Column::Kind.eq(kind.as_str()))
        .filter(ledger_transaction::Column::Reference.eq(reference))
        .one(db)
        .await
}

/// What one batch changes besides the transactions themselves.
#[derive(Default)]
pub struct Batch {
    /// The transactions, in stream order.
    pub transactions: Vec<Transaction>,
    /// Holds taken.
    pub holds_added: Vec<Hold>,
    /// Holds that ended (settled, released, refunded).
    pub holds_ended: Vec<MessageId>,
    /// Messages reserved, per usage metric (`messages.outbound.<category>`):
    /// counted in the statement that reserves them, so once per message.
    pub outbound: BTreeMap<String, i64>,
    /// The low-balance alert's change, if the batch crossed its threshold.
    pub alert: Option<AlertChange>,
}

/// A low-balance alert fired (with its event) or re-armed.
pub struct AlertChange {
    /// Whether the crossing is now announced.
    pub notified: bool,
    /// The event to stage, when it fired.
    pub event: Option<Envelope>,
}

impl Batch {
    /// The usage counts, as (metric, quantity).
    fn counts(&self) -> Vec<(String, i64)> {
        self.outbound.iter().map(|(m, q)| (m.clone(), *q)).collect()
    }
}

/// Appends `batch` atomically; a unique key hit is a [`StoreError::Conflict`].
pub async fn commit(
    quick: &aerostic_kit::db::QuickDb,
    tenant: TenantId,
    batch: &Batch,
) -> Result<(), StoreError> {
    if batch.transactions.is_empty() {
        return Ok(());
    }
    if quick.get_database_backend() == DbBackend::Postgres {
        return crate::shared_commit::commit_postgres(quick, &[(tenant, batch)]).await;
    }
    let txn = aerostic_kit::db::begin_write(quick.regular()).await?;
    let rows = batch
        .transactions
        .iter()
        .map(|t| ledger_transaction::ActiveModel {
            id: Set(t.id.clone()),
            tenant_id: Set(t.tenant_id.to_string()),
            seq: Set(t.seq),
            kind: Set(t.kind.as_str().into()),
            reference: Set(t.reference.clone()),
            currency: Set(t.currency.to_string()),
            amount: Set(t.amount),
            available_after: Set(t.available_after),
            held_after: Set(t.held_after),
            detail: Set(clip(&t.detail, 500).to_string()),
            created_at: Set(t.created_at),
        });
    ledger_transaction::Entity::insert_many(rows)
        .exec(&txn)
        .await
        .map_err(classify)?;
    let postings = batch.transactions.iter().flat_map(|t| {
        t.postings.iter().map(|p| ledger_posting::ActiveModel {
            transaction_id: Set(t.id.clone()),
            account: Set(p.account.to_string()),
            amount: Set(p.amount),
            currency: Set(t.currency.to_string()),
            created_at: Set(t.created_at),
        })
    });
    ledger_posting::Entity::insert_many(postings)
        .exec(&txn)
        .await
        .map_err(classify)?;
    let now = chrono::Utc::now();
    let ended: Vec<String> = batch.holds_ended.iter().map(ToString::to_string).collect();
    let added: Vec<_> = batch
        .holds_added
        .iter()
        .filter(|h| !batch.holds_ended.contains(&h.message_id))
        .map(|h| billing_hold::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            message_id: Set(h.message_id.to_string()),
            amount: Set(h.price.total()),
            base_amount: Set(h.price.base),
            markup_amount: Set(h.price.markup),
            reseller_id: Set(h.reseller_id.clone()),
            category: Set(h.category.clone()),
            created_at: Set(now),
        })
        .collect();
    if !added.is_empty() {
        billing_hold::Entity::insert_many(added)
            .on_conflict_do_nothing_on([
                billing_hold::Column::TenantId,
                billing_hold::Column::MessageId,
            ])
            .exec(&txn)
            .await?;
    }
    if !ended.is_empty() {
        billing_hold::Entity::delete_many()
            .filter(billing_hold::Column::TenantId.eq(tenant.to_string()))
            .filter(billing_hold::Column::MessageId.is_in(ended))
            .exec(&txn)
            .await?;
    }
    let period = crate::usage::day_key(now);
    crate::usage::add(&txn, &tenant.to_string(), &period, &batch.counts()).await?;
    if let Some(change) = &batch.alert {
        crate::alert::mark(&txn, tenant, change.notified).await?;
        if let Some(event) = &change.event {
            Outbox::new(crate::alert::OUTBOX_TABLE)
                .stage(&txn, event)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The first `chars` characters of `text` (a detail column's width).
pub(crate) fn clip(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
