//! The wallet writers against a real PostgreSQL database: many tasks at once
//! never overdraw a wallet, two writers of one wallet (two replicas) never
//! double-spend, and random reordered and repeated operations leave a ledger
//! where every account sums to zero and each balance equals its postings.

use aerostic_billing::ledger::Kind;
use aerostic_billing::money::{Currency, Price};
use aerostic_billing::wallet::{Hold, Op, Outcome, Refusal};
use aerostic_billing::writer::Wallets;
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection};

async fn database() -> DatabaseConnection {
    let url = aerostic_kit::db::testing::fresh_postgres_database()
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let db = aerostic_kit::db::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn reserve(message_id: MessageId, base: i64) -> Op {
    Op::Reserve(Hold {
        message_id,
        price: Price {
            base,
            markup: base / 5,
        },
        reseller_id: Some("11111111-1111-7111-8111-111111111111".into()),
        category: "marketing".into(),
    })
}

async fn top_up(wallets: &Wallets, tenant: TenantId, amount: i64) {
    let outcome = wallets
        .run(
            tenant,
            Op::Credit {
                kind: Kind::TopUp,
                reference: format!("pay_{}", uuid::Uuid::new_v4()),
                amount,
                detail: "test".into(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Applied(..)), "{outcome:?}");
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    aerostic_kit::db::testing::scalar(db, sql).await.unwrap()
}

/// Every invariant of the ledger, checked in SQL over the whole database.
async fn assert_ledger_holds(db: &DatabaseConnection, tenant: TenantId) {
    let unbalanced = scalar(
        db,
        "SELECT COUNT(*) FROM (SELECT transaction_id FROM ledger_postings \
         GROUP BY transaction_id HAVING SUM(amount) <> 0) u",
    )
    .await;
    assert_eq!(unbalanced, 0, "every transaction balances");
    let total = scalar(
        db,
        "SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_postings",
    )
    .await;
    assert_eq!(total, 0, "all accounts together sum to zero");
    let newest = |column: &str| {
        format!(
            "SELECT {column} FROM ledger_transactions WHERE tenant_id = '{tenant}' \
             ORDER BY seq DESC LIMIT 1"
        )
    };
    for (account, column) in [("available", "available_after"), ("held", "held_after")] {
        let sum = scalar(
            db,
            &format!(
                "SELECT CAST(SUM(amount) AS BIGINT) FROM ledger_postings \
                 WHERE account = 'tenant:{tenant}:{account}'"
            ),
        )
        .await;
        assert_eq!(
            sum,
            scalar(db, &newest(column)).await,
            "{account} equals its postings"
        );
    }
    let negative = scalar(
        db,
        &format!(
            "SELECT COUNT(*) FROM ledger_transactions WHERE tenant_id = '{tenant}' \
             AND (available_after < 0 OR held_after < 0)"
        ),
    )
    .await;
    assert_eq!(negative, 0, "the wallet never went below zero");
    let (count, max) = (
        scalar(
            db,
            &format!("SELECT COUNT(*) FROM ledger_transactions WHERE tenant_id = '{tenant}'"),
        )
        .await,
        scalar(
            db,
            &format!("SELECT MAX(seq) FROM ledger_transactions WHERE tenant_id = '{tenant}'"),
        )
        .await,
    );
    assert_eq!(count, max, "the stream has no gaps");
    let holds = scalar(
        db,
        &format!(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM billing_holds WHERE tenant_id = '{tenant}'"
        ),
    )
    .await;
    assert_eq!(
        holds,
        scalar(db, &newest("held_after")).await,
        "held is the open holds"
    );
}

#[tokio::test]
async fn many_tasks_reserving_at_once_never_overdraw_a_wallet() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    let tenant = TenantId::new();
    top_up(&wallets, tenant, 1_200).await;
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                wallets
                    .run(tenant, reserve(MessageId::new(), 10))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut held = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Outcome::Applied(..) => held += 1,
            Outcome::Refused(Refusal::InsufficientFunds {
                available,
                required,
            }) => {
                assert!(available < required);
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (held, refused),
        (100, 200),
        "12 cents each, 1,200 available"
    );
    let state = wallets.state(tenant).await.unwrap();
    assert_eq!((state.available, state.held), (0, 1_200));
    assert_ledger_holds(&db, tenant).await;
    assert_eq!(
        aerostic_billing::usage::outbound_today(&db, &tenant.to_string())
            .await
            .unwrap(),
        100,
        "the plan counts the messages reserved, not those refused"
    );
}

#[tokio::test]
async fn two_writers_of_one_wallet_collide_instead_of_double_spending() {
    let db = database().await;
    // Two replicas of billing, each with its own writer for the same wallet.
    let (a, b) = (
        Wallets::new(db.clone(), usd()),
        Wallets::new(db.clone(), usd()),
    );
    let tenant = TenantId::new();
    top_up(&a, tenant, 600).await;
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let wallets = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { wallets.run(tenant, reserve(MessageId::new(), 10)).await })
        })
        .collect();
    let mut held = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Outcome::Applied(..)) => held += 1,
            Ok(Outcome::Refused(_)) | Err(_) => {}
            Ok(other) => panic!("{other:?}"),
        }
    }
    assert!(held <= 50, "600 covers 50 reservations of 12, not {held}");
    assert_ledger_holds(&db, tenant).await;
    let state = a.state(tenant).await.unwrap();
    assert_eq!(
        state.held,
        12 * held,
        "what was answered as held is what is held"
    );
    assert_eq!(
        aerostic_billing::usage::outbound_today(&db, &tenant.to_string())
            .await
            .unwrap(),
        held,
        "a collided batch counted nothing; its replay counted each message once"
    );
}

#[tokio::test]
async fn wallets_reserving_together_keep_their_own_books_even_when_one_collides() {
    let db = database().await;
    // Eight busy wallets at once; the first is also written by a second
    // replica, so its batches collide.
    let (a, b) = (
        Wallets::new(db.clone(), usd()),
        Wallets::new(db.clone(), usd()),
    );
    let tenants: Vec<TenantId> = (0..8).map(|_| TenantId::new()).collect();
    for tenant in &tenants {
        top_up(&a, *tenant, 1_200).await;
    }
    let mut tasks = Vec::new();
    for round in 0..40 {
        for (i, tenant) in tenants.iter().enumerate() {
            let wallets = if i == 0 && round % 2 == 1 {
                b.clone()
            } else {
                a.clone()
            };
            let tenant = *tenant;
            tasks.push(tokio::spawn(async move {
                let answer = wallets.run(tenant, reserve(MessageId::new(), 10)).await;
                (tenant, answer)
            }));
        }
    }
    let mut held = std::collections::HashMap::<TenantId, i64>::new();
    for task in tasks {
        let (tenant, answer) = task.await.unwrap();
        match answer {
            Ok(Outcome::Applied(..)) => *held.entry(tenant).or_default() += 1,
            Ok(Outcome::Refused(_)) | Err(_) => {}
            Ok(other) => panic!("{other:?}"),
        }
    }
    for tenant in &tenants {
        let count = held.get(tenant).copied().unwrap_or(0);
        assert_ledger_holds(&db, *tenant).await;
        let state = a.state(*tenant).await.unwrap();
        assert_eq!(state.held, 12 * count, "each wallet holds what it answered");
        assert_eq!(
            state.available + state.held,
            1_200,
            "nothing moved between wallets"
        );
        assert_eq!(
            aerostic_billing::usage::outbound_today(&db, &tenant.to_string())
                .await
                .unwrap(),
            count,
            "each wallet's messages are counted on its own plan"
        );
    }
    // The uncontended wallets were never refused: 40 reservations of 12 fit.
    for tenant in &tenants[1..] {
        assert_eq!(held.get(tenant), Some(&40));
    }
}

#[tokio::test]
async fn a_message_id_two_wallets_hold_is_ended_only_in_the_wallet_that_settles_it() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    // Twelve wallets, each holding two messages whose ids the next wallet
    // also uses (a hold is keyed by its tenant and message).
    let tenants: Vec<TenantId> = (0..12).map(|_| TenantId::new()).collect();
    let shared: Vec<MessageId> = (0..12).map(|_| MessageId::new()).collect();
    for (i, tenant) in tenants.iter().enumerate() {
        top_up(&wallets, *tenant, 100).await;
        for m in [shared[i], shared[(i + 1) % 12]] {
            let held = wallets.run(*tenant, reserve(m, 10)).await.unwrap();
            assert!(matches!(held, Outcome::Applied(..)), "{held:?}");
        }
    }
    // All at once: each settles the first of its two, which its neighbour
    // still holds.
    let tasks: Vec<_> = tenants
        .iter()
        .enumerate()
        .map(|(i, tenant)| {
            let (wallets, tenant, m) = (wallets.clone(), *tenant, shared[i]);
            tokio::spawn(async move { wallets.run(tenant, Op::Settle(m)).await })
        })
        .collect();
    for task in tasks {
        let settled = task.await.unwrap().unwrap();
        assert!(matches!(settled, Outcome::Applied(..)), "{settled:?}");
    }
    for tenant in &tenants {
        assert_ledger_holds(&db, *tenant).await;
        let state = wallets.state(*tenant).await.unwrap();
        assert_eq!(state.held, 12, "the other message is still held");
        assert_eq!(state.available, 100 - 24, "one price held, one paid");
    }
}

/// A tiny deterministic generator, so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn reordered_and_repeated_operations_keep_the_books_exact() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    let tenant = TenantId::new();
    let messages: Vec<MessageId> = (0..40).map(|_| MessageId::new()).collect();
    let mut rng = Lcg(0x5eed);
    let mut ops = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        ops.push(reserve(*m, 5 + i as i64));
        for _ in 0..rng.next(4) {
            ops.push(match rng.next(3) {
                0 => Op::Settle(*m),
                1 => Op::Release {
                    message_id: *m,
                    reason: "send failed".into(),
                },
                _ => Op::Refund {
                    message_id: *m,
                    reason: "template failed".into(),
                },
            });
        }
    }
    for i in 0..6 {
        ops.push(Op::Credit {
            kind: Kind::TopUp,
            reference: format!("pay_{}", i % 3), // each reference twice
            amount: 150,
            detail: String::new(),
        });
    }
    // Shuffle, repeat a third of them, and run from eight tasks at once.
    for i in (1..ops.len()).rev() {
        ops.swap(i, rng.next(i as u64 + 1) as usize);
    }
    let repeats: Vec<Op> = ops.iter().filter(|_| rng.next(3) == 0).cloned().collect();
    ops.extend(repeats);
    let chunks: Vec<Vec<Op>> = ops
        .chunks(ops.len().div_ceil(8))
        .map(<[Op]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                for op in chunk {
                    wallets.run(tenant, op).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_ledger_holds(&db, tenant).await;
    let top_ups = scalar(
        &db,
        &format!("SELECT COUNT(*) FROM ledger_transactions WHERE tenant_id = '{tenant}' AND kind = 'top_up'"),
    )
    .await;
    assert_eq!(top_ups, 3, "a repeated payment reference credits once");
    for kind in ["refund", "settle", "release"] {
        let n = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM ledger_transactions WHERE tenant_id = '{tenant}' AND kind = '{kind}' \
                 AND reference NOT IN (SELECT reference FROM ledger_transactions WHERE kind = 'reserve')"
            ),
        )
        .await;
        assert_eq!(n, 0, "no {kind} without its reservation");
    }
    let refunded_unsettled = scalar(
        &db,
        &format!(
            "SELECT COUNT(*) FROM ledger_transactions WHERE tenant_id = '{tenant}' AND kind = 'refund' \
             AND reference NOT IN (SELECT reference FROM ledger_transactions WHERE kind = 'settle')"
        ),
    )
    .await;
    assert_eq!(refunded_unsettled, 0, "only a settled price is refunded");
}

#[tokio::test]
async fn ten_duplicated_failures_refund_a_settled_template_once() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    let tenant = TenantId::new();
    top_up(&wallets, tenant, 100).await;
    let message = MessageId::new();
    wallets.run(tenant, reserve(message, 25)).await.unwrap();
    wallets.run(tenant, Op::Settle(message)).await.unwrap();
    assert_eq!(wallets.state(tenant).await.unwrap().available, 70);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                wallets
                    .run(
                        tenant,
                        Op::Refund {
                            message_id: message,
                            reason: "131026".into(),
                        },
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Outcome::Applied(..)) {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "refunded exactly once");
    // Even from a fresh writer (after a restart), it stays refunded.
    let restarted = Wallets::new(db.clone(), usd());
    let again = restarted
        .run(
            tenant,
            Op::Refund {
                message_id: message,
                reason: "late duplicate".into(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Unchanged(_)), "{again:?}");
    let late_settle = restarted.run(tenant, Op::Settle(message)).await.unwrap();
    assert!(
        matches!(late_settle, Outcome::Unchanged(_)),
        "{late_settle:?}"
    );
    assert_eq!(restarted.state(tenant).await.unwrap().available, 100);
    assert_ledger_holds(&db, tenant).await;
}

#[tokio::test]
async fn holds_left_open_past_metas_retry_period_are_released_and_no_others() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    let tenant = TenantId::new();
    top_up(&wallets, tenant, 100).await;
    let (old, fresh) = (MessageId::new(), MessageId::new());
    for m in [old, fresh] {
        let outcome = wallets.run(tenant, reserve(m, 10)).await.unwrap();
        assert!(matches!(outcome, Outcome::Applied(..)), "{outcome:?}");
    }
    db.execute_unprepared(&format!(
        "UPDATE billing_holds SET created_at = now() - interval '40 days' WHERE message_id = '{old}'"
    ))
    .await
    .unwrap();
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(aerostic_billing::expiry::HOLD_TTL).unwrap();
    let released = aerostic_billing::expiry::sweep_once(&db, &wallets, cutoff)
        .await
        .unwrap();
    assert_eq!(released, 1, "only the 40-day-old hold");
    let state = wallets.state(tenant).await.unwrap();
    assert_eq!(
        (state.available, state.held),
        (88, 12),
        "the old hold's 12 came back, the fresh one's stays held"
    );
    let again = aerostic_billing::expiry::sweep_once(&db, &wallets, cutoff)
        .await
        .unwrap();
    assert_eq!(again, 0, "a released hold is gone from the sweep");
    assert_ledger_holds(&db, tenant).await;
}

#[tokio::test]
async fn reads_of_the_days_usage_asked_together_each_get_their_own_tenants_count() {
    use aerostic_billing::today::TodayReads;
    use aerostic_billing::usage::{self, Metric};
    let db = database().await;
    let (a, b, idle) = (TenantId::new(), TenantId::new(), TenantId::new());
    let today = usage::day_key(chrono::Utc::now());
    let yesterday = usage::day_key(chrono::Utc::now() - chrono::Duration::days(1));
    let outbound = |category: &str| Metric::outbound(category).name;
    let count = |metric: String, n: i64| vec![(metric, n)];
    let a_s = a.to_string();
    usage::add(&db, &a_s, &today, &count(outbound("marketing"), 3))
        .await
        .unwrap();
    usage::add(&db, &a_s, &today, &count(outbound("utility"), 4))
        .await
        .unwrap();
    usage::add(&db, &a_s, &yesterday, &count(outbound("utility"), 50))
        .await
        .unwrap();
    usage::add(&db, &a_s, &today, &count("ai.credits".into(), 9))
        .await
        .unwrap();
    usage::add(&db, &b.to_string(), &today, &count(outbound("service"), 11))
        .await
        .unwrap();
    let reads = TodayReads::new(aerostic_kit::db::QuickDb::new(&db));
    let asked = (0..60).map(|i| {
        let reads = reads.clone();
        let tenant = [a, b, idle][i % 3];
        async move {
            (
                tenant,
                reads.outbound_today(&tenant.to_string()).await.unwrap(),
            )
        }
    });
    for (tenant, n) in futures::future::join_all(asked).await {
        let expected = if tenant == a {
            7
        } else if tenant == b {
            11
        } else {
            0
        };
        assert_eq!(n, expected, "today's outbound messages of {tenant}");
    }
}

#[tokio::test]
async fn wallets_committing_together_alert_only_the_wallet_that_crossed_its_threshold() {
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    // Six wallets with an alert below 100; the first drains to 40, the
    // others stay at 880, their reservations all at once.
    let tenants: Vec<TenantId> = (0..6).map(|_| TenantId::new()).collect();
    for tenant in &tenants {
        aerostic_billing::alert::set(&db, *tenant, 100)
            .await
            .unwrap();
        top_up(&wallets, *tenant, 1_000).await;
    }
    let tasks: Vec<_> = (0..10)
        .flat_map(|_| tenants.iter().copied().enumerate())
        .map(|(i, tenant)| {
            let wallets = wallets.clone();
            let base = if i == 0 { 80 } else { 10 };
            tokio::spawn(async move { wallets.run(tenant, reserve(MessageId::new(), base)).await })
        })
        .collect();
    for task in tasks {
        let held = task.await.unwrap().unwrap();
        assert!(matches!(held, Outcome::Applied(..)), "{held:?}");
    }
    for (i, tenant) in tenants.iter().enumerate() {
        assert_ledger_holds(&db, *tenant).await;
        let notified = scalar(
            &db,
            &format!(
                "SELECT low_balance_notified::int::int8 FROM wallet_settings WHERE tenant_id = '{tenant}'"
            ),
        )
        .await;
        assert_eq!(notified, i64::from(i == 0), "wallet {i} announced");
    }
    let events = scalar(
        &db,
        &format!(
            "SELECT count(*) FROM billing_outbox WHERE convert_from(payload, 'UTF8') LIKE '%{}%'",
            tenants[0]
        ),
    )
    .await;
    assert_eq!(events, 1, "one event, the drained wallet's");
    assert_eq!(wallets.outbox().pending(&db).await.unwrap(), 1);
}

#[tokio::test]
async fn a_wallet_colliding_in_a_shared_commit_fails_alone() {
    use aerostic_billing::store::Batch;
    use aerostic_billing::wallet::{MessageState, WalletState};
    let db = database().await;
    let wallets = Wallets::new(db.clone(), usd());
    let (colliding, innocent) = (TenantId::new(), TenantId::new());
    // Another replica already wrote the colliding wallet's first transaction.
    top_up(&wallets, colliding, 100).await;
    let first_top_up = |tenant| {
        let mut state = WalletState::empty(tenant, usd());
        let credit = Op::Credit {
            kind: Kind::TopUp,
            reference: format!("pay_{}", uuid::Uuid::new_v4()),
            amount: 70,
            detail: "test".into(),
        };
        let Outcome::Applied(tx, _) =
            state.apply(credit, &MessageState::NotBilled, chrono::Utc::now())
        else {
            panic!("a top-up applies")
        };
        Batch {
            transactions: vec![tx],
            ..Batch::default()
        }
    };
    let answers = aerostic_billing::shared_commit::commit_together(
        &db,
        &[
            (colliding, first_top_up(colliding)),
            (innocent, first_top_up(innocent)),
        ],
    )
    .await;
    assert!(answers[0].is_err(), "the colliding wallet's seq 1 is taken");
    assert!(answers[1].is_ok(), "{:?}", answers[1]);
    assert_eq!(wallets.state(innocent).await.unwrap().available, 70);
    assert_eq!(wallets.state(colliding).await.unwrap().available, 100);
    assert_ledger_holds(&db, innocent).await;
}
