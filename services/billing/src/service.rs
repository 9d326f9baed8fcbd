//! Billing's domain as callers see it: who may do what, values parsed once,
//! prices resolved, and the wallet writers' outcomes turned into answers or
//! precise errors.

use aerostic_kit::identity::{Identity, Permission, Role};
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::alert::{self, Alert};
use crate::directory::Directory;
use crate::entity::{ledger_posting, ledger_transaction};
use crate::ledger::Kind;
use crate::money::{Currency, Price};
use crate::prices::{self, DEFAULT_SCOPE, Priced, Prices};
use crate::wallet::{Hold, MessageState, Op, Outcome, Refusal, WalletState};
use crate::writer::{Wallets, WriterError};

/// A price quoted for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Base and markup.
    pub price: Price,
    /// Its currency.
    pub currency: Currency,
    /// Why it is free, when it is.
    pub free_because: Option<&'static str>,
    /// The reseller earning the markup.
    pub reseller_id: Option<String>,
}

/// One entry of a wallet's history.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The transaction.
    pub tx: ledger_transaction::Model,
    /// Its change of the available balance.
    pub available_change: i64,
}

/// Billing for every tenant.
#[derive(Clone)]
pub struct Billing {
    pub(crate) db: DatabaseConnection,
    pub(crate) wallets: Wallets,
    /// The day's outbound counts (the plan's bound), read in batches.
    pub(crate) today: crate::today::TodayReads,
    prices: Prices,
    pub(crate) directory: Directory,
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e)
}

fn writer_error(e: WriterError) -> ApiError {
    match e {
        WriterError::Contended => ApiError::unavailable("the wallet (busy)"),
        WriterError::Database(e) => ApiError::internal(e),
    }
}

/// A message id from outside, parsed once.
pub(crate) fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid_field("message_id", "must be a UUID"))
}

/// Who may read a wallet, its history and prices: workspace admins, and API
/// keys with `billing:read`.
pub(crate) fn may_view(caller: &Identity) -> Result<(), ApiError> {
    if caller.api_key_id.is_some() {
        caller.require_scope("billing:read")
    } else {
        caller.require(Permission::ManageSettings)
    }
}

/// Who may spend on messages: users who answer conversations (and the AI
/// agent), and API keys with `messages:send`.
pub(crate) fn may_send(caller: &Identity) -> Result<(), ApiError> {
    if caller.api_key_id.is_some() {
        caller.require_scope("messages:send")
    } else {
        caller.require(Permission::Inbox)
    }
}

impl Billing {
    /// Billing over `db`, new wallets in `currency`, reseller markups from `directory`.
    pub fn new(db: DatabaseConnection, currency: Currency, directory: Directory) -> Self {
        let wallets = Wallets::new(db.clone(), currency);
        Self {
            today: crate::today::TodayReads::new(wallets.quick().clone()),
            wallets,
            prices: Prices::new(db.clone()),
            db,
            directory,
        }
    }

    /// The wallet writers (the status consumer settles through them).
    pub fn wallets(&self) -> &Wallets {
        &self.wallets
    }

    /// The caller's wallet and its low-balance alert.
    pub async fn wallet(
        &self,
        caller: &Identity,
        tenant: &str,
    ) -> Result<(WalletState, Option<Alert>), ApiError> {
        let tenant = self.target(caller, tenant).await?;
        if tenant == caller.tenant_id {
            may_view(caller)?;
        }
        let state = self.wallets.state(tenant).await.map_err(writer_error)?;
        let alert = alert::load(&self.db, tenant).await.map_err(internal)?;
        Ok((state, alert))
    }

    /// The tenant a request names: the caller's own when `raw` is empty or
    /// theirs; another, existing one only for platform admins.
    async fn target(&self, caller: &Identity, raw: &str) -> Result<TenantId, ApiError> {
        if raw.is_empty() || raw == caller.tenant_id.to_string() {
            return Ok(caller.tenant_id);
        }
        caller.require(Permission::PlatformAdmin)?;
        let tenant = raw
            .parse::<TenantId>()
            .map_err(|_| ApiError::invalid_field("tenant_id", "must be a UUID"))?;
        self.directory.profile_of(caller, tenant).await?;
        Ok(tenant)
    }

    /// What reseller `id` earned from its markup: the sum of its margin
    /// postings (platform admins).
    pub async fn reseller_earnings(&self, caller: &Identity, id: &str) -> Result<i64, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        self.directory.reseller(caller, id).await?;
        crate::store::reseller_margin(&self.db, id)
            .await
            .map_err(internal)
    }

    /// Sets the caller's low-balance threshold: minor units and their
    /// currency (empty: the wallet's); 0 removes the alert. The wallet after.
    pub async fn set_low_balance_alert(
        &self,
        caller: &Identity,
        threshold: Option<(i64, String)>,
    ) -> Result<(WalletState, Option<Alert>), ApiError> {
        caller.require(Permission::ManageSettings)?;
        let mut problems = std::collections::BTreeMap::new();
        let (threshold, currency) = threshold.unwrap_or((-1, String::new()));
        if threshold < 0 {
            problems.insert(
                "threshold_minor".to_string(),
                "is required, in minor units (0 removes the alert)".to_string(),
            );
        }
        // No currency means the wallet's own.
        if !currency.is_empty() && Currency::parse(&currency).ok() != Some(self.wallets.currency())
        {
            problems.insert(
                "currency".into(),
                format!("wallets are in {}", self.wallets.currency()),
            );
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        alert::set(&self.db, caller.tenant_id, threshold)
            .await
            .map_err(internal)?;
        self.wallet(caller, "").await
    }

    /// The price of `m` for the caller's tenant now.
    pub async fn quote(&self, caller: &Identity, m: &Priced) -> Result<Quote, ApiError> {
        let currency = self.wallets.currency();
        if let Some(why) = prices::free_because(m) {
            return Ok(Quote {
                price: Price::default(),
                currency,
                free_because: Some(why),
                reseller_id: None,
            });
        }
        let (base, list_currency) = self
            .prices
            .base(&caller.tenant_id.to_string(), m)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::FailedPrecondition,
                    "price_not_set",
                    "no price is set for this category and country; ask the platform admin",
                )
                .with_detail("category", m.category.clone())
                .with_detail("country", m.country.clone())
            })?;
        if list_currency != currency {
            return Err(ApiError::internal(format!(
                "price list in {list_currency}, wallets in {currency}"
            )));
        }
        let profile = self.directory.profile(caller).await?;
        Ok(Quote {
            price: Price::with_markup(base, profile.markup_bps),
            currency,
            free_because: None,
            reseller_id: profile.reseller_id,
        })
    }

    /// Holds the price of message `id` (once per message); a free message
    /// holds nothing. Refused with `plan_limit_reached` once the plan's
    /// messages of the day are used up.
    pub async fn reserve(
        &self,
        caller: &Identity,
        id: &str,
        m: &Priced,
    ) -> Result<(MessageState, Quote), ApiError> {
        may_send(caller)?;
        let message_id = message_id(id)?;
        self.within_daily_bound(caller).await?;
        let quote = self.quote(caller, m).await?;
        if quote.price.total() == 0 {
            // Nothing to hold, but the plan counts every message sent (a
            // paid one is counted by the batch that holds its price).
            crate::usage::record(
                &self.db,
                &caller.tenant_id.to_string(),
                &crate::usage::Metric::outbound(&m.category),
                1,
                &format!("send:{message_id}"),
            )
            .await
            .map_err(internal)?;
            self.today.counted(&caller.tenant_id.to_string());
            return Ok((MessageState::NotBilled, quote));
        }
        let hold = Hold {
            message_id,
            price: quote.price,
            reseller_id: quote.reseller_id.clone(),
            category: m.category.clone(),
        };
        let outcome = self
            .wallets
            .run(caller.tenant_id, Op::Reserve(hold))
            .await
            .map_err(writer_error)?;
        if matches!(outcome, Outcome::Applied(..)) {
            self.today.counted(&caller.tenant_id.to_string());
        }
        Ok((self.state_of(outcome, quote.currency)?, quote))
    }

    /// Settles, releases or refunds a message of the caller's tenant.
    pub async fn finish(&self, caller: &Identity, op: Op) -> Result<MessageState, ApiError> {
        may_send(caller)?;
        self.finish_for(caller.tenant_id, op).await
    }

    /// Settles, releases or refunds a message of `tenant` (the status consumer).
    pub async fn finish_for(&self, tenant: TenantId, op: Op) -> Result<MessageState, ApiError> {
        let outcome = self.wallets.run(tenant, op).await.map_err(writer_error)?;
        self.state_of(outcome, self.wallets.currency())
    }

    fn state_of(&self, outcome: Outcome, currency: Currency) -> Result<MessageState, ApiError> {
        match outcome {
            Outcome::Applied(_, state) | Outcome::Unchanged(state) => Ok(state),
            Outcome::Refused(Refusal::InsufficientFunds {
                available,
                required,
            }) => Err(ApiError::new(
                ErrorKind::PaymentRequired,
                "insufficient_funds",
                "the wallet does not cover this message; top it up",
            )
            .with_detail("available_minor", available.to_string())
            .with_detail("required_minor", required.to_string())
            .with_detail("currency", currency.to_string())),
            Outcome::Refused(Refusal::BadAmount) => {
                Err(ApiError::invalid_field("amount_minor", "must not be zero"))
            }
            Outcome::Recorded(_) => Ok(MessageState::NotBilled),
        }
    }

    /// Credits `tenant` (super admins), once per `reference`: the entry.
    pub async fn top_up(
        &self,
        caller: &Identity,
        tenant: &str,
        amount: i64,
        currency: &str,
        reference: &str,
        note: &str,
    ) -> Result<Entry, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let mut problems = std::collections::BTreeMap::new();
        let tenant = tenant.parse::<TenantId>().ok();
        if tenant.is_none() {
            problems.insert("tenant_id".to_string(), "must be a UUID".to_string());
        }
        if amount <= 0 {
            problems.insert(
                "amount_minor".into(),
                "must be a positive number of minor units".into(),
            );
        }
        match Currency::parse(currency) {
            Ok(c) if c == self.wallets.currency() => {}
            _ if currency.is_empty() => {}
            Ok(_) => {
                problems.insert(
                    "currency".into(),
                    format!("wallets are in {}", self.wallets.currency()),
                );
            }
            Err(e) => {
                problems.insert("currency".into(), e.into());
            }
        }
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 200 {
            problems.insert(
                "reference".into(),
                "is required (at most 200 characters)".into(),
            );
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        let tenant = tenant.expect("checked");
        self.directory.profile_of(caller, tenant).await?;
        let op = Op::Credit {
            kind: Kind::TopUp,
            reference: reference.to_string(),
            amount,
            detail: note.chars().take(500).collect(),
        };
        match self.wallets.run(tenant, op).await.map_err(writer_error)? {
            Outcome::Applied(tx, _) => self.entry(&tx.id).await,
            Outcome::Recorded(id) => self.entry(&id).await,
            other => Err(self
                .state_of(other, self.wallets.currency())
                .err()
                .unwrap_or_else(|| internal("top-up"))),
        }
    }

    async fn entry(&self, id: &str) -> Result<Entry, ApiError> {
        let tx = ledger_transaction::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("a written transaction is missing"))?;
        let mut entries = self.with_changes(vec![tx]).await?;
        Ok(entries.remove(0))
    }

    /// The caller's wallet history, newest first: up to `limit` entries
    /// before `before` (a seq; `None` for the newest).
    pub async fn history(
        &self,
        caller: &Identity,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Entry>, ApiError> {
        may_view(caller)?;
        let mut query = ledger_transaction::Entity::find()
            .filter(ledger_transaction::Column::TenantId.eq(caller.tenant_id.to_string()));
        if let Some(seq) = before {
            query = query.filter(ledger_transaction::Column::Seq.lt(seq));
        }
        let txs = query
            .order_by_desc(ledger_transaction::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(internal)?;
        self.with_changes(txs).await
    }

    async fn with_changes(
        &self,
        txs: Vec<ledger_transaction::Model>,
    ) -> Result<Vec<Entry>, ApiError> {
        let ids: Vec<String> = txs.iter().map(|t| t.id.clone()).collect();
        let postings = ledger_posting::Entity::find()
            .filter(ledger_posting::Column::TransactionId.is_in(ids))
            .filter(ledger_posting::Column::Account.like("tenant:%:available"))
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(txs
            .into_iter()
            .map(|tx| {
                let available_change = postings
                    .iter()
                    .filter(|p| p.transaction_id == tx.id)
                    .map(|p| p.amount)
                    .sum();
                Entry {
                    tx,
                    available_change,
                }
            })
            .collect())
    }

    /// The caller's effective price list (super admins: the default list),
    /// with the markup its tenant pays.
    pub async fn price_list(
        &self,
        caller: &Identity,
    ) -> Result<(String, Vec<crate::entity::price::Model>, u32), ApiError> {
        if caller.role == Role::SuperAdmin && caller.api_key_id.is_none() {
            let rows = self.prices.list(DEFAULT_SCOPE).await.map_err(internal)?;
            return Ok((DEFAULT_SCOPE.into(), rows.to_vec(), 0));
        }
        may_view(caller)?;
        let scope = caller.tenant_id.to_string();
        let mut rows = self.prices.list(&scope).await.map_err(internal)?.to_vec();
        rows.extend(
            self.prices
                .list(DEFAULT_SCOPE)
                .await
                .map_err(internal)?
                .iter()
                .cloned(),
        );
        let markup = self.directory.profile(caller).await?.markup_bps;
        Ok((scope, rows, markup))
    }

    /// Every price of `scope` (after [`Billing::set_price`] checked the caller).
    pub async fn scope_prices(
        &self,
        scope: &str,
    ) -> Result<Vec<crate::entity::price::Model>, ApiError> {
        Ok(self.prices.list(scope).await.map_err(internal)?.to_vec())
    }

    /// Sets a default price, or `tenant`'s override (super admins); the scope set.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_price(
        &self,
        caller: &Identity,
        tenant: &str,
        category: &str,
        country: &str,
        template: &str,
        unit_minor: i64,
        currency: &str,
    ) -> Result<String, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let mut problems = std::collections::BTreeMap::new();
        let scope = if tenant.is_empty() {
            Some(DEFAULT_SCOPE.to_string())
        } else {
            tenant.parse::<TenantId>().ok().map(|t| t.to_string())
        };
        if scope.is_none() {
            problems.insert(
                "tenant_id".to_string(),
                "must be a UUID or empty".to_string(),
            );
        }
        let category = prices::category(category)
            .map_err(|e| problems.insert("category".into(), e.into()))
            .ok();
        let country = prices::country(country, true)
            .map_err(|e| problems.insert("country".into(), e.into()))
            .ok();
        let template = prices::template(template)
            .map_err(|e| problems.insert("template_name".into(), e.into()))
            .ok();
        if scope.as_deref() == Some(DEFAULT_SCOPE)
            && template.as_deref().is_some_and(|t| !t.is_empty())
        {
            problems.insert(
                "template_name".into(),
                "template prices are per tenant".into(),
            );
        }
        if unit_minor < 0 {
            problems.insert("unit_price_minor".into(), "must not be negative".into());
        }
        match Currency::parse(currency) {
            Ok(c) if c == self.wallets.currency() => {}
            _ if currency.is_empty() => {}
            _ => {
                problems.insert(
                    "currency".into(),
                    format!("must be {}", self.wallets.currency()),
                );
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        let scope = scope.expect("checked");
        if let Ok(tenant) = scope.parse::<TenantId>() {
            self.directory.profile_of(caller, tenant).await?;
        }
        self.prices
            .set(
                &scope,
                &category.expect("checked"),
                &country.expect("checked"),
                &template.expect("checked"),
                unit_minor,
                self.wallets.currency(),
            )
            .await
            .map_err(internal)?;
        Ok(scope)
    }
}
