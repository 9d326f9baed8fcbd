//! One tenant's wallet as a state machine: each operation either writes one
//! balanced transaction, changes nothing (it already happened, or there is
//! nothing to do), or is refused. Pure: the writer feeds it what the
//! database knows and persists what it returns.

use std::collections::HashMap;

use aerostic_kit::ids::{MessageId, TenantId};
use chrono::{DateTime, Utc};

use crate::ledger::{Account, Kind, Posting, Transaction};
use crate::money::{Currency, Price};

/// A message's price, held until Meta bills or fails it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The message.
    pub message_id: MessageId,
    /// What it costs: the platform's base and the reseller's markup.
    pub price: Price,
    /// The reseller earning the markup.
    pub reseller_id: Option<String>,
    /// Its pricing category (`marketing`, `utility`, …).
    pub category: String,
}

/// Where a message stands in billing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageState {
    /// Never reserved (a free message, or unknown).
    NotBilled,
    /// Its price is held.
    Held(Hold),
    /// Its price was earned.
    Settled(Hold),
    /// Its price went back before it was earned.
    Released(Hold),
    /// Its earned price went back.
    Refunded(Hold),
}

impl MessageState {
    /// The stored name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotBilled => "not_billed",
            Self::Held(_) => "held",
            Self::Settled(_) => "settled",
            Self::Released(_) => "released",
            Self::Refunded(_) => "refunded",
        }
    }

    /// The message's price, if it had one.
    pub fn hold(&self) -> Option<&Hold> {
        match self {
            Self::NotBilled => None,
            Self::Held(h) | Self::Settled(h) | Self::Released(h) | Self::Refunded(h) => Some(h),
        }
    }
}

/// What can be asked of a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Hold `hold.price` for a message (once per message).
    Reserve(Hold),
    /// Earn a held price (Meta billed the message).
    Settle(MessageId),
    /// Give a held price back (the send failed before Meta charged).
    Release {
        /// The message.
        message_id: MessageId,
        /// Why, for the ledger.
        reason: String,
    },
    /// The message failed: a held price goes back, an earned one is refunded.
    Refund {
        /// The message.
        message_id: MessageId,
        /// Why, for the ledger.
        reason: String,
    },
    /// Money in (`TopUp`, positive) or an admin's correction (`Adjustment`,
    /// either sign), once per reference.
    Credit {
        /// `TopUp` or `Adjustment`.
        kind: Kind,
        /// Idempotency key (payment or request reference).
        reference: String,
        /// Minor units.
        amount: i64,
        /// A note for the ledger.
        detail: String,
    },
}

impl Op {
    /// The message the operation concerns (none for credits).
    pub fn message(&self) -> Option<MessageId> {
        match self {
            Self::Reserve(h) => Some(h.message_id),
            other => other.settles(),
        }
    }

    /// The message a settle, release or refund concerns.
    pub fn settles(&self) -> Option<MessageId> {
        match self {
            Self::Settle(m)
            | Self::Release { message_id: m, .. }
            | Self::Refund { message_id: m, .. } => Some(*m),
            _ => None,
        }
    }
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The available balance does not cover the price.
    InsufficientFunds {
        /// What is available.
        available: i64,
        /// What was asked.
        required: i64,
    },
    /// An amount that is zero, or negative where it cannot be.
    BadAmount,
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It wrote this transaction; the message (if any) is now in this state.
    Applied(Transaction, MessageState),
    /// Nothing to write: the message is already in this state.
    Unchanged(MessageState),
    /// Refused, with why.
    Refused(Refusal),
    /// A credit with this reference was already recorded, as this transaction.
    Recorded(String),
}

/// A wallet's balances and its messages in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletState {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The wallet's currency.
    pub currency: Currency,
    /// The last transaction's position in the stream (0: none yet).
    pub seq: i64,
    /// Spendable.
    pub available: i64,
    /// Held by messages in flight.
    pub held: i64,
    /// The messages in flight.
    pub holds: HashMap<MessageId, Hold>,
}

impl WalletState {
    /// An empty wallet.
    pub fn empty(tenant_id: TenantId, currency: Currency) -> Self {
        Self {
            tenant_id,
            currency,
            seq: 0,
            available: 0,
            held: 0,
            holds: HashMap::new(),
        }
    }

    /// Applies `op` at `now`. `past` is where its message stands when it is
    /// not held here, as far as the caller knows (the writer reads it from the
    /// ledger; the ledger's unique keys catch what it did not know).
    pub fn apply(&mut self, op: Op, past: &MessageState, now: DateTime<Utc>) -> Outcome {
        let t = self.tenant_id;
        match op {
            Op::Reserve(hold) => {
                if let Some(held) = self.holds.get(&hold.message_id) {
                    return Outcome::Unchanged(MessageState::Held(held.clone()));
                }
                if *past != MessageState::NotBilled {
                    return Outcome::Unchanged(past.clone()); // reserved once already
                }
                let total = hold.price.total();
                if total <= 0 || hold.price.base < 0 || hold.price.markup < 0 {
                    return Outcome::Refused(Refusal::BadAmount);
                }
                if total > self.available {
                    return Outcome::Refused(Refusal::InsufficientFunds {
                        available: self.available,
                        required: total,
                    });
                }
                let postings = vec![
                    Posting {
                        account: Account::Available(t),
                        amount: -total,
                    },
                    Posting {
                        account: Account::Held(t),
                        amount: total,
                    },
                ];
                let reference = hold.message_id.to_string();
                let tx = self.write(
                    Kind::Reserve,
                    reference,
                    total,
                    postings,
                    String::new(),
                    now,
                );
                self.holds.insert(hold.message_id, hold.clone());
                Outcome::Applied(tx, MessageState::Held(hold))
            }
            Op::Settle(message_id) => match self.holds.remove(&message_id) {
                Some(hold) => {
                    let total = hold.price.total();
                    let mut postings = vec![Posting {
                        account: Account::Held(t),
                        amount: -total,
                    }];
                    postings.extend(earnings(&hold, 1));
                    let tx = self.write(
                        Kind::Settle,
                        message_id.to_string(),
                        total,
                        postings,
                        String::new(),
                        now,
                    );
                    Outcome::Applied(tx, MessageState::Settled(hold))
                }
                None => Outcome::Unchanged(past.clone()),
            },
            Op::Release { message_id, reason } => match self.holds.remove(&message_id) {
                Some(hold) => self.release(hold, reason, now),
                None => Outcome::Unchanged(past.clone()),
            },
            Op::Refund { message_id, reason } => {
                if let Some(hold) = self.holds.remove(&message_id) {
                    return self.release(hold, reason, now);
                }
                let MessageState::Settled(hold) = past else {
                    return Outcome::Unchanged(past.clone());
                };
                let total = hold.price.total();
                let mut postings = vec![Posting {
                    account: Account::Available(t),
                    amount: total,
                }];
                postings.extend(earnings(hold, -1));
                let tx = self.write(
                    Kind::Refund,
                    message_id.to_string(),
                    total,
                    postings,
                    reason,
                    now,
                );
                Outcome::Applied(tx, MessageState::Refunded(hold.clone()))
            }
            Op::Credit {
                kind,
                reference,
                amount,
                detail,
            } => {
                let negative_ok = kind == Kind::Adjustment;
                if amount == 0 || (amount < 0 && !negative_ok) {
                    return Outcome::Refused(Refusal::BadAmount);
                }
                if self
                    .available
                    .checked_add(amount)
                    .is_none_or(|after| after < 0)
                {
                    return Outcome::Refused(Refusal::InsufficientFunds {
                        available: self.available,
                        required: -amount,
                    });
                }
                let postings = vec![
                    Posting {
                        account: Account::Funding,
                        amount: -amount,
                    },
                    Posting {
                        account: Account::Available(t),
                        amount,
                    },
                ];
                let tx = self.write(kind, reference, amount.abs(), postings, detail, now);
                Outcome::Applied(tx, MessageState::NotBilled)
            }
        }
    }

    fn release(&mut self, hold: Hold, reason: String, now: DateTime<Utc>) -> Outcome {
        let t = self.tenant_id;
        let total = hold.price.total();
        let postings = vec![
            Posting {
                account: Account::Held(t),
                amount: -total,
            },
            Posting {
                account: Account::Available(t),
                amount: total,
            },
        ];
        let tx = self.write(
            Kind::Release,
            hold.message_id.to_string(),
            total,
            postings,
            reason,
            now,
        );
        Outcome::Applied(tx, MessageState::Released(hold))
    }

    /// Appends a transaction: the next seq, balances moved by its postings.
    fn write(
        &mut self,
        kind: Kind,
        reference: String,
        amount: i64,
        postings: Vec<Posting>,
        detail: String,
        now: DateTime<Utc>,
    ) -> Transaction {
        self.seq += 1;
        let mut tx = Transaction {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.tenant_id,
            seq: self.seq,
            kind,
            reference,
            currency: self.currency,
            amount,
            postings,
            available_after: 0,
            held_after: 0,
            detail,
            created_at: now,
        };
        self.available += tx.on(&Account::Available(self.tenant_id));
        self.held += tx.on(&Account::Held(self.tenant_id));
        tx.available_after = self.available;
        tx.held_after = self.held;
        debug_assert!(tx.is_balanced());
        tx
    }
}

/// Who earns a price: the platform its base, the reseller its markup (the
/// platform keeps a markup with no reseller to pay); `sign` 1 to earn, -1
/// to give back.
fn earnings(hold: &Hold, sign: i64) -> Vec<Posting> {
    match &hold.reseller_id {
        Some(reseller) if hold.price.markup != 0 => vec![
            Posting {
                account: Account::Revenue,
                amount: sign * hold.price.base,
            },
            Posting {
                account: Account::ResellerMargin(reseller.clone()),
                amount: sign * hold.price.markup,
            },
        ],
        _ => vec![Posting {
            account: Account::Revenue,
            amount: sign * hold.price.total(),
        }],
    }
}
