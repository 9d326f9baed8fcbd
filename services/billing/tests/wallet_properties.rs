//! The wallet state machine under random sequences of reserve, settle,
//! release, refund and credits, with duplicated and reordered operations:
//! money is never created, lost or counted twice.

use std::collections::HashMap;

use aerostic_billing::ledger::{Account, Kind, Transaction};
use aerostic_billing::money::{Currency, Price};
use aerostic_billing::wallet::{Hold, MessageState, Op, Outcome, WalletState};
use aerostic_kit::ids::{MessageId, TenantId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Reserve(usize, i64, i64, bool),
    Settle(usize),
    Release(usize),
    Refund(usize),
    TopUp(usize, i64),
    Adjust(usize, i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..8usize, 1..500i64, 0..100i64, any::<bool>())
            .prop_map(|(m, b, k, r)| Step::Reserve(m, b, k, r)),
        (0..8usize).prop_map(Step::Settle),
        (0..8usize).prop_map(Step::Release),
        (0..8usize).prop_map(Step::Refund),
        (0..4usize, 1..2_000i64).prop_map(|(r, a)| Step::TopUp(r, a)),
        (0..4usize, -500..500i64).prop_map(|(r, a)| Step::Adjust(r, a)),
    ]
}

/// Plays `steps` the way the writer does: ledger knowledge of each message
/// (`past`) and of each credit reference, updated after every operation.
fn play(steps: &[Step]) -> (WalletState, Vec<Transaction>) {
    let tenant = TenantId::new();
    let messages: Vec<MessageId> = (0..8).map(|_| MessageId::new()).collect();
    let mut wallet = WalletState::empty(tenant, Currency::parse("USD").unwrap());
    let mut past: HashMap<MessageId, MessageState> = HashMap::new();
    let mut credited: Vec<(Kind, String)> = Vec::new();
    let mut ledger = Vec::new();
    for s in steps {
        let op = match s.clone() {
            Step::Reserve(m, base, markup, reseller) => Op::Reserve(Hold {
                message_id: messages[m],
                price: Price { base, markup },
                reseller_id: reseller.then(|| "r1".to_string()),
                category: "marketing".into(),
            }),
            Step::Settle(m) => Op::Settle(messages[m]),
            Step::Release(m) => Op::Release {
                message_id: messages[m],
                reason: "failed".into(),
            },
            Step::Refund(m) => Op::Refund {
                message_id: messages[m],
                reason: "failed".into(),
            },
            Step::TopUp(r, amount) | Step::Adjust(r, amount) => {
                let kind = if matches!(s, Step::TopUp(..)) {
                    Kind::TopUp
                } else {
                    Kind::Adjustment
                };
                let reference = format!("ref{r}");
                if credited.contains(&(kind, reference.clone())) {
                    continue; // the unique key makes a repeat a no-op
                }
                Op::Credit {
                    kind,
                    reference,
                    amount,
                    detail: String::new(),
                }
            }
        };
        let message = op.message();
        let known = message
            .and_then(|m| past.get(&m).cloned())
            .unwrap_or(MessageState::NotBilled);
        match wallet.apply(op, &known, chrono::Utc::now()) {
            Outcome::Applied(tx, state) => {
                if let Some(m) = message {
                    past.insert(m, state);
                }
                if matches!(tx.kind, Kind::TopUp | Kind::Adjustment) {
                    credited.push((tx.kind, tx.reference.clone()));
                }
                ledger.push(tx);
            }
            Outcome::Unchanged(_) | Outcome::Refused(_) | Outcome::Recorded(_) => {}
        }
        assert!(wallet.available >= 0 && wallet.held >= 0, "{wallet:?}");
    }
    (wallet, ledger)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn money_is_never_created_lost_or_counted_twice(steps in prop::collection::vec(step(), 0..120)) {
        let (wallet, ledger) = play(&steps);
        let mut sums: HashMap<Account, i128> = HashMap::new();
        let mut once: HashMap<(Kind, String), usize> = HashMap::new();
        for (i, tx) in ledger.iter().enumerate() {
            prop_assert!(tx.is_balanced(), "{tx:?}");
            prop_assert_eq!(tx.seq, i as i64 + 1, "the stream has no gaps");
            *once.entry((tx.kind, tx.reference.clone())).or_default() += 1;
            for p in &tx.postings {
                *sums.entry(p.account.clone()).or_default() += i128::from(p.amount);
            }
        }
        prop_assert!(once.values().all(|n| *n == 1), "each movement happens once: {once:?}");
        prop_assert_eq!(sums.values().sum::<i128>(), 0, "every account together sums to zero");
        let t = wallet.tenant_id;
        prop_assert_eq!(sums.get(&Account::Available(t)).copied().unwrap_or(0), i128::from(wallet.available));
        prop_assert_eq!(sums.get(&Account::Held(t)).copied().unwrap_or(0), i128::from(wallet.held));
        let held: i64 = wallet.holds.values().map(|h| h.price.total()).sum();
        prop_assert_eq!(held, wallet.held, "held is exactly the messages in flight");
        if let Some(last) = ledger.last() {
            prop_assert_eq!((last.available_after, last.held_after), (wallet.available, wallet.held));
        }
        // A message is refunded only after it settled, and at most once.
        for tx in ledger.iter().filter(|t| t.kind == Kind::Refund) {
            prop_assert!(once.contains_key(&(Kind::Settle, tx.reference.clone())));
        }
    }
}

#[test]
fn a_reservation_beyond_the_balance_is_refused_with_the_figures() {
    let mut wallet = WalletState::empty(TenantId::new(), Currency::parse("USD").unwrap());
    let now = chrono::Utc::now();
    let credit = Op::Credit {
        kind: Kind::TopUp,
        reference: "p1".into(),
        amount: 10,
        detail: String::new(),
    };
    assert!(matches!(
        wallet.apply(credit, &MessageState::NotBilled, now),
        Outcome::Applied(..)
    ));
    let hold = Hold {
        message_id: MessageId::new(),
        price: Price { base: 9, markup: 2 },
        reseller_id: Some("r".into()),
        category: "marketing".into(),
    };
    assert_eq!(
        wallet.apply(Op::Reserve(hold), &MessageState::NotBilled, now),
        Outcome::Refused(aerostic_billing::wallet::Refusal::InsufficientFunds {
            available: 10,
            required: 11
        })
    );
    assert_eq!(
        (wallet.available, wallet.held, wallet.seq),
        (10, 0, 1),
        "nothing moved"
    );
}
