//! The ledger's vocabulary: accounts, kinds of movement, and a transaction
//! as balanced postings. Nothing here touches the database.

use std::fmt;

use aerostic_kit::ids::TenantId;

use crate::money::Currency;

/// An account of the double-entry ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// What a tenant can spend.
    Available(TenantId),
    /// What a tenant's messages in flight hold.
    Held(TenantId),
    /// The platform's earnings.
    Revenue,
    /// Where top-ups and credits come from (money entering the platform).
    Funding,
    /// A reseller's markup earnings.
    ResellerMargin(String),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available(t) => write!(f, "tenant:{t}:available"),
            Self::Held(t) => write!(f, "tenant:{t}:held"),
            Self::Revenue => f.write_str("platform:revenue"),
            Self::Funding => f.write_str("platform:funding"),
            Self::ResellerMargin(r) => write!(f, "reseller:{r}:margin"),
        }
    }
}

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Money paid in (idempotent by payment reference).
    TopUp,
    /// A platform admin's credit (or debit) of a wallet.
    Adjustment,
    /// A message's price held from the available balance.
    Reserve,
    /// The held price earned: revenue and the reseller's margin.
    Settle,
    /// The held price given back (the send failed before Meta charged).
    Release,
    /// A settled price given back (Meta reported the template failed).
    Refund,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Adjustment => "adjustment",
            Self::Reserve => "reserve",
            Self::Settle => "settle",
            Self::Release => "release",
            Self::Refund => "refund",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::TopUp,
            Self::Adjustment,
            Self::Reserve,
            Self::Settle,
            Self::Release,
            Self::Refund,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One line of a transaction: `amount` (signed) on `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account moved.
    pub account: Account,
    /// Credit positive, debit negative, minor units.
    pub amount: i64,
}

/// A movement of money: balanced postings, once per (kind, reference), with
/// the wallet's balances after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Transaction id (UUID v7).
    pub id: String,
    /// The wallet's tenant.
    pub tenant_id: TenantId,
    /// Its position in the wallet's stream (1, 2, …).
    pub seq: i64,
    /// What it does.
    pub kind: Kind,
    /// Its idempotency key (message id or payment reference).
    pub reference: String,
    /// The currency of every posting.
    pub currency: Currency,
    /// Its size (positive).
    pub amount: i64,
    /// The lines; they sum to zero.
    pub postings: Vec<Posting>,
    /// Available balance after it.
    pub available_after: i64,
    /// Held balance after it.
    pub held_after: i64,
    /// Why (a reason or an admin's note).
    pub detail: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Transaction {
    /// Whether the postings sum to zero (always, by construction).
    pub fn is_balanced(&self) -> bool {
        self.postings
            .iter()
            .map(|p| i128::from(p.amount))
            .sum::<i128>()
            == 0
    }

    /// The net movement of `account` in this transaction.
    pub fn on(&self, account: &Account) -> i64 {
        self.postings
            .iter()
            .filter(|p| &p.account == account)
            .map(|p| p.amount)
            .sum()
    }
}
