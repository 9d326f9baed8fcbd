//! The embedded backend (SQLite, as `aerostic dev` runs it) keeps the same
//! books: batches through the writer and usage counted once per event.

use aerostic_billing::ledger::Kind;
use aerostic_billing::money::{Currency, Price};
use aerostic_billing::usage::{self, Metric};
use aerostic_billing::wallet::{Hold, Op, Outcome};
use aerostic_billing::writer::Wallets;
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_migrations::{Migrator, MigratorTrait};

async fn sqlite() -> sea_orm::DatabaseConnection {
    let path = std::env::temp_dir().join(format!("aerostic-billing-{}.db", uuid::Uuid::new_v4()));
    let db = aerostic_kit::db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

#[tokio::test]
async fn sqlite_keeps_the_same_books_and_counts_usage_once() {
    let db = sqlite().await;
    let wallets = Wallets::new(db.clone(), Currency::parse("USD").unwrap());
    let tenant = TenantId::new();
    let credit = Op::Credit {
        kind: Kind::TopUp,
        reference: "p".into(),
        amount: 50,
        detail: String::new(),
    };
    assert!(matches!(
        wallets.run(tenant, credit.clone()).await.unwrap(),
        Outcome::Applied(..)
    ));
    assert!(
        matches!(
            wallets.run(tenant, credit).await.unwrap(),
            Outcome::Recorded(_)
        ),
        "once per reference"
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                let m = MessageId::new();
                let hold = Hold {
                    message_id: m,
                    price: Price { base: 4, markup: 1 },
                    reseller_id: None,
                    category: "utility".into(),
                };
                if matches!(
                    wallets.run(tenant, Op::Reserve(hold)).await.unwrap(),
                    Outcome::Applied(..)
                ) {
                    wallets.run(tenant, Op::Settle(m)).await.unwrap();
                    true
                } else {
                    false
                }
            })
        })
        .collect();
    let mut settled = 0;
    for t in tasks {
        settled += i64::from(t.await.unwrap());
    }
    assert_eq!(settled, 10, "50 cents pay for ten 5-cent messages");
    let state = wallets.state(tenant).await.unwrap();
    assert_eq!((state.available, state.held), (0, 0));
    assert_eq!(
        wallets.outbox().pending(&db).await.unwrap(),
        0,
        "no alert was set"
    );

    let t = tenant.to_string();
    assert_eq!(
        usage::used(&db, &t, &Metric::outbound("utility"))
            .await
            .unwrap(),
        10,
        "each message reserved counted once, in its category"
    );
    let metric = Metric::parse("messages.inbound").unwrap();
    assert_eq!(usage::record(&db, &t, &metric, 2, "e1").await.unwrap(), 2);
    assert_eq!(usage::record(&db, &t, &metric, 2, "e1").await.unwrap(), 2);
    assert_eq!(usage::record(&db, &t, &metric, 1, "e2").await.unwrap(), 3);
}

#[tokio::test]
async fn sqlite_stages_one_low_balance_event_per_crossing() {
    let db = sqlite().await;
    let wallets = Wallets::new(db.clone(), Currency::parse("USD").unwrap());
    let tenant = TenantId::new();
    aerostic_billing::alert::set(&db, tenant, 10).await.unwrap();
    let credit = |reference: &str| Op::Credit {
        kind: Kind::TopUp,
        reference: reference.into(),
        amount: 20,
        detail: String::new(),
    };
    wallets.run(tenant, credit("a")).await.unwrap();
    for _ in 0..4 {
        let hold = Hold {
            message_id: MessageId::new(),
            price: Price { base: 4, markup: 0 },
            reseller_id: None,
            category: "marketing".into(),
        };
        wallets.run(tenant, Op::Reserve(hold)).await.unwrap();
    }
    assert_eq!(
        wallets.outbox().pending(&db).await.unwrap(),
        1,
        "20 → 4 crossed 10 once"
    );
    wallets.run(tenant, credit("b")).await.unwrap();
    let hold = Hold {
        message_id: MessageId::new(),
        price: Price {
            base: 16,
            markup: 0,
        },
        reseller_id: None,
        category: "marketing".into(),
    };
    wallets.run(tenant, Op::Reserve(hold)).await.unwrap();
    assert_eq!(
        wallets.outbox().pending(&db).await.unwrap(),
        2,
        "re-armed at 24, crossed again at 8"
    );
}
