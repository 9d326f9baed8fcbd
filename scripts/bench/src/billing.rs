//! Billing figures: reserve+settle cycles per second on one hot wallet, and
//! the latency of each cycle, against a real database (PostgreSQL by
//! default; `sqlite` for the embedded one). Afterwards the ledger is checked:
//! no balance ever went below zero and every transaction balances.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-billing [seconds] [clients] [postgres|sqlite]`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use aerostic_billing::ledger::Kind;
use aerostic_billing::money::{Currency, Price};
use aerostic_billing::wallet::{Hold, Op, Outcome};
use aerostic_billing::writer::{MAX_BATCH, Wallets};
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_migrations::{Migrator, MigratorTrait};

#[path = "ledger_check.rs"]
mod ledger_check;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let backend = args.get(3).cloned().unwrap_or_else(|| "postgres".into());
    let url = if backend == "sqlite" {
        let path = std::env::temp_dir().join(format!("aerostic-bench-{}.db", uuid::Uuid::new_v4()));
        format!("sqlite://{}", path.display())
    } else {
        aerostic_kit::db::testing::fresh_postgres_database().await?
    };
    let db = aerostic_kit::db::connect(&url).await?;
    Migrator::up(&db, None).await?;
    let wallets = Wallets::new(db.clone(), Currency::parse("USD").unwrap());
    let tenant = TenantId::new();
    wallets
        .run(
            tenant,
            Op::Credit {
                kind: Kind::TopUp,
                reference: "bench".into(),
                amount: i64::MAX / 4,
                detail: String::new(),
            },
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let wallets = wallets.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let message_id = MessageId::new();
                    let hold = Hold {
                        message_id,
                        price: Price { base: 3, markup: 1 },
                        reseller_id: Some("r1".into()),
                        category: "marketing".into(),
                    };
                    let reserved = wallets.run(tenant, Op::Reserve(hold)).await.unwrap();
                    assert!(matches!(reserved, Outcome::Applied(..)), "{reserved:?}");
                    let settled = wallets.run(tenant, Op::Settle(message_id)).await.unwrap();
                    assert!(matches!(settled, Outcome::Applied(..)), "{settled:?}");
                    samples.push(started.elapsed());
                }
                samples
            })
        })
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let (transactions, negative, unbalanced) = ledger_check::check(&db).await;
    println!(
        "billing on {backend}: {clients} clients, one wallet, {seconds} s, batches up to {MAX_BATCH}"
    );
    println!(
        "  reserve+settle cycles: {} ({:.0}/s); cycle latency p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        samples.len() as f64 / elapsed,
        p(0.50),
        p(0.99)
    );
    println!(
        "  ledger: {transactions} transactions, {negative} with a negative balance, {unbalanced} unbalanced"
    );
    anyhow::ensure!(negative == 0 && unbalanced == 0, "the ledger is wrong");
    Ok(())
}
