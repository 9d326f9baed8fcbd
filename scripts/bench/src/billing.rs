//! Billing figures: reserve+settle cycles per second on one hot wallet, and
//! the latency of each cycle, against a real database (PostgreSQL by
//! default; `sqlite` for the embedded one). Afterwards the ledger is checked:
//! no balance ever went below zero and every transaction balances.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-billing [seconds] [clients] [postgres|sqlite]`
//!
//! `BENCH_REPLICAS=2` splits the clients over two writers of the one wallet,
//! as two billing replicas both reached by its sends would be: their batches
//! collide, and each collision reloads the wallet and replays one by one.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use aerostic_billing::ledger::Kind;
use aerostic_billing::money::{Currency, Price};
use aerostic_billing::wallet::{Hold, Op, Outcome};
use aerostic_billing::writer::{MAX_BATCH, Wallets, WriterError};
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
    let replicas: usize = std::env::var("BENCH_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let writers: Vec<Wallets> = std::iter::once(wallets.clone())
        .chain((1..replicas).map(|_| Wallets::new(db.clone(), Currency::parse("USD").unwrap())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let wallets = writers[i % replicas].clone();
            tokio::spawn(async move {
                let (mut samples, mut refused, mut retried) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let message_id = MessageId::new();
                    let hold = Hold {
                        message_id,
                        price: Price { base: 3, markup: 1 },
                        reseller_id: Some("r1".into()),
                        category: "marketing".into(),
                    };
                    // A contended wallet refuses the reservation (the API
                    // answers 503); a settle is retried until it lands.
                    let reserved = match wallets.run(tenant, Op::Reserve(hold)).await {
                        Ok(outcome) => outcome,
                        Err(WriterError::Contended) => {
                            refused += 1;
                            continue;
                        }
                        Err(e) => panic!("{e}"),
                    };
                    assert!(matches!(reserved, Outcome::Applied(..)), "{reserved:?}");
                    let settled = loop {
                        match wallets.run(tenant, Op::Settle(message_id)).await {
                            Ok(outcome) => break outcome,
                            Err(WriterError::Contended) => retried += 1,
                            Err(e) => panic!("{e}"),
                        }
                    };
                    assert!(matches!(settled, Outcome::Applied(..)), "{settled:?}");
                    samples.push(started.elapsed());
                }
                (samples, refused, retried)
            })
        })
        .collect();
    let started = Instant::now();
    let (mut samples, mut refused, mut retried) = (Vec::new(), 0, 0);
    for task in tasks {
        let (mine, r, t) = task.await?;
        samples.extend(mine);
        refused += r;
        retried += t;
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let (transactions, negative, unbalanced) = ledger_check::check(&db).await;
    println!(
        "billing on {backend}: {clients} clients, one wallet, {replicas} writer(s), {seconds} s, batches up to {MAX_BATCH}"
    );
    println!(
        "  reserve+settle cycles: {} ({:.0}/s); cycle latency p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        samples.len() as f64 / elapsed,
        p(0.50),
        p(0.99)
    );
    println!("  refused as contended: {refused} reservations; settles retried: {retried}");
    println!(
        "  ledger: {transactions} transactions, {negative} with a negative balance, {unbalanced} unbalanced"
    );
    anyhow::ensure!(negative == 0 && unbalanced == 0, "the ledger is wrong");
    Ok(())
}
