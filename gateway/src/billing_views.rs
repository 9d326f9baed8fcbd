//! What the billing endpoints answer.

use aerostic_proto::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::rfc3339;

fn minor(m: Option<pb::Money>) -> (String, i64) {
    let m = m.unwrap_or_default();
    (m.currency, m.amount_minor)
}

/// A workspace's wallet.
#[derive(Serialize, ToSchema)]
pub struct WalletView {
    /// ISO 4217.
    #[schema(example = "USD")]
    pub currency: String,
    /// Spendable, in minor units.
    pub available_minor: i64,
    /// Held by messages in flight, in minor units.
    pub held_minor: i64,
    /// Below this available balance a `billing.low_balance` event goes out,
    /// once per crossing; null when no alert is set.
    pub low_balance_alert_minor: Option<i64>,
}

impl WalletView {
    /// The view of `wallet`.
    pub fn of(w: pb::Wallet) -> Self {
        let (currency, available_minor) = minor(w.available);
        Self {
            currency,
            available_minor,
            held_minor: minor(w.held).1,
            low_balance_alert_minor: w.low_balance_alert.map(|m| m.amount_minor),
        }
    }
}

/// One movement of the wallet.
#[derive(Serialize, ToSchema)]
pub struct LedgerEntryView {
    /// Entry id.
    pub id: String,
    /// Its position in the wallet's history (1, 2, …).
    pub seq: i64,
    /// `top_up`, `adjustment`, `reserve`, `settle`, `release` or `refund`.
    pub kind: String,
    /// The change of the available balance, signed, minor units.
    pub available_change_minor: i64,
    /// Available after it.
    pub available_after_minor: i64,
    /// Held after it.
    pub held_after_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// The message id or payment reference.
    pub reference: String,
    /// Why.
    pub detail: String,
    /// When.
    pub created_at: Option<String>,
}

impl LedgerEntryView {
    /// The view of `entry`.
    pub fn of(e: pb::LedgerEntry) -> Self {
        let kind = match e.kind() {
            pb::LedgerKind::TopUp => "top_up",
            pb::LedgerKind::Adjustment => "adjustment",
            pb::LedgerKind::Reserve => "reserve",
            pb::LedgerKind::Settle => "settle",
            pb::LedgerKind::Release => "release",
            pb::LedgerKind::Refund => "refund",
            pb::LedgerKind::Unspecified => "unknown",
        };
        let (currency, available_change_minor) = minor(e.available_change);
        Self {
            kind: kind.into(),
            available_change_minor,
            available_after_minor: minor(e.available_after).1,
            held_after_minor: minor(e.held_after).1,
            currency,
            created_at: rfc3339(e.created_at),
            id: e.id,
            seq: e.seq,
            reference: e.reference,
            detail: e.detail,
        }
    }
}

/// One price.
#[derive(Serialize, ToSchema)]
pub struct PriceView {
    /// `marketing`, `utility`, `authentication`, `authentication-international` or `service`.
    pub category: String,
    /// ISO 3166-1 alpha-2, or `*` for any country.
    pub country: String,
    /// A template's own price, or empty for the category's.
    pub template_name: String,
    /// Minor units per message, before markup.
    pub unit_price_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// A price list: the workspace's overrides first, then the platform's.
#[derive(Serialize, ToSchema)]
pub struct PriceListView {
    /// `default` (the platform's list), or the tenant whose own prices
    /// come first in `data`.
    pub scope: String,
    /// The prices.
    pub data: Vec<PriceView>,
    /// The reseller's markup on every price, basis points.
    pub markup_bps: u32,
}

impl PriceListView {
    /// The view of `list`.
    pub fn of(list: pb::PriceList) -> Self {
        Self {
            scope: list.scope,
            markup_bps: list.markup_bps,
            data: list
                .prices
                .into_iter()
                .map(|p| {
                    let (currency, unit_price_minor) = minor(p.unit_price);
                    PriceView {
                        category: p.category,
                        country: p.country,
                        template_name: p.template_name,
                        unit_price_minor,
                        currency,
                    }
                })
                .collect(),
        }
    }
}

/// One metric's use against the workspace's plan.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// `ai_credits` (per month), `messages.outbound` (per UTC day, every
    /// category), `messages.outbound.<category>`, `messages.inbound`,
    /// `numbers` or `agents` (in use now).
    #[schema(example = "messages.outbound")]
    pub metric: String,
    /// Used this period, or in use now.
    pub used: u64,
    /// The plan's bound; null where the plan sets none.
    pub limit: Option<u64>,
    /// What is left of the limit; null where there is none.
    pub remaining: Option<u64>,
    /// The period counted (RFC 3339); null for numbers and agents.
    pub period_start: Option<String>,
    /// When the count starts again (RFC 3339).
    pub period_end: Option<String>,
}

impl UsageView {
    /// The view of `usage`.
    pub fn of(u: pb::Usage) -> Self {
        let limit = u.limited.then_some(u.limit);
        Self {
            remaining: limit.map(|l| l.saturating_sub(u.used)),
            metric: u.metric,
            used: u.used,
            limit,
            period_start: rfc3339(u.period_start),
            period_end: rfc3339(u.period_end),
        }
    }
}
