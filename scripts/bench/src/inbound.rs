//! Inbound figures in the production topology: `aerostic tenancy`,
//! `aerostic dispatcher` and `aerostic gateway` as separate processes on
//! PostgreSQL, RabbitMQ and Redis. The driver posts unique, correctly signed
//! webhooks to the gateway and measures, in the same run, the machine's raw
//! durable insert rate with pgbench (one-row inserts, 16 clients):
//!
//! 1. pgbench for `seconds`;
//! 2. acknowledgement latency at a fixed 1,000 POST/s for `seconds`, after
//!    an untimed warm-up of two seconds at that rate;
//! 3. the most webhooks acknowledged and applied per second, `clients`
//!    posting back to back for `seconds`;
//!
//! then checks that every wamid sent is stored exactly once.
//!
//! Build first: `cargo build --release -p aerostic -p aerostic-bench`, then
//! `target/release/bench-inbound [seconds] [clients]`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aerostic_kit::db::testing::{fresh_postgres_database, scalar};
use aerostic_launcher::topology::{Topology, free_port};
use hmac::{Hmac, Mac};
use sea_orm::ConnectionTrait;
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "bench-app-secret";
const PHONE_ID: &str = "420000000000777";
/// Seconds posted at the paced rate before the timed phase.
const WARM_UP_SECONDS: u64 = 2;

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One customer message, as Meta posts it.
fn webhook(n: u64, run: &str) -> Vec<u8> {
    let customer = 5511900000000u64 + n % 1_000;
    json!({"object": "whatsapp_business_account", "entry": [{"id": "310000000000777", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": format!("Cliente {}", n % 1_000)}, "wa_id": customer.to_string()}],
        "messages": [{"from": customer.to_string(), "id": format!("wamid.{run}.{n}"), "timestamp": "1760000000", "type": "text", "text": {"body": format!("pedido n.º {n}")}}]}}]}]})
    .to_string()
    .into_bytes()
}

fn pgbench(db_name: &str, seconds: u64) -> anyhow::Result<f64> {
    let script =
        std::env::temp_dir().join(format!("aerostic-pgbench-{}.sql", uuid::Uuid::new_v4()));
    std::fs::write(
        &script,
        "INSERT INTO bench_rows (body) VALUES ('a one-row durable insert');\n",
    )?;
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-c",
            "16",
            "-j",
            "2",
        ])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(db_name)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "pgbench said: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(tps)
}

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (bool, Duration) {
    let started = Instant::now();
    let signature = sign(&body);
    let ok = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 200);
    (ok, started.elapsed())
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let binary = std::env::current_exe()?.with_file_name("aerostic");
    anyhow::ensure!(
        binary.exists(),
        "build it first: cargo build --release -p aerostic"
    );

    let url = fresh_postgres_database().await?;
    let db_name = url.rsplit('/').next().unwrap_or_default().to_string();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (tenancy, dispatcher, gateway) = (free_port(), free_port(), free_port());
    let logs = std::env::temp_dir().join(format!("aerostic-bench-inbound-{run}"));
    let env: Vec<(String, String)> = vec![
        ("AEROSTIC_DATABASE_URL".into(), url.clone()),
        (
            "AEROSTIC_BROKER_URL".into(),
            "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        ),
        ("AEROSTIC_CACHE_URL".into(), "redis://127.0.0.1:6379".into()),
        ("AEROSTIC_NAMESPACE".into(), format!("bench{run}")),
        (
            "AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS".into(),
            "120".into(),
        ),
        (
            "AEROSTIC_ENCRYPTION_KEYS".into(),
            aerostic_kit::crypto::KeyRing::generate_spec("b1"),
        ),
        ("AEROSTIC_JWT_SECRET".into(), "b".repeat(40)),
        ("AEROSTIC_META_APP_ID".into(), "100000000000777".into()),
        ("AEROSTIC_META_APP_SECRET".into(), SECRET.into()),
        ("AEROSTIC_META_WEBHOOK_VERIFY_TOKEN".into(), "bench".into()),
        ("AEROSTIC_TENANCY_GRPC_ADDR".into(), tenancy.to_string()),
        (
            "AEROSTIC_TENANCY_METRICS_ADDR".into(),
            free_port().to_string(),
        ),
        ("AEROSTIC_TENANCY_URL".into(), format!("http://{tenancy}")),
        (
            "AEROSTIC_DISPATCHER_GRPC_ADDR".into(),
            dispatcher.to_string(),
        ),
        (
            "AEROSTIC_DISPATCHER_METRICS_ADDR".into(),
            free_port().to_string(),
        ),
        (
            "AEROSTIC_DISPATCHER_URL".into(),
            format!("http://{dispatcher}"),
        ),
        ("AEROSTIC_GATEWAY_ADDR".into(), gateway.to_string()),
        ("AEROSTIC_LOG".into(), "warn".into()),
    ];
    let mut topology = Topology::new(&binary, env, &logs)?;
    anyhow::ensure!(topology.run(&["migrate"])?, "aerostic migrate failed");
    let db = aerostic_kit::db::connect(&url).await?;
    let tenant = uuid::Uuid::now_v7();
    db.execute_unprepared(&format!(
        "INSERT INTO tenants (id, name, status, plan_code, created_at) VALUES ('{tenant}', 'Bench', 'active', 'scale', now());
         INSERT INTO whatsapp_accounts (id, tenant_id, waba_id, phone_number_id, display_phone_number, verified_name, status, connected_at, created_at)
           VALUES ('{}', '{tenant}', '310000000000777', '{PHONE_ID}', '15550001111', 'Bench', 'connected', now(), now());
         CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body text NOT NULL);",
        uuid::Uuid::now_v7()
    ))
    .await?;

    for service in ["tenancy", "dispatcher", "gateway"] {
        topology.start(service)?;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let ready = format!("http://{gateway}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Ready for this run: its backends and the two services inbound needs
    // (billing, automation and anomaly are not started).
    let needed = async |http: &reqwest::Client| -> bool {
        let Ok(answer) = http.get(&ready).send().await else {
            return false;
        };
        let view: serde_json::Value = answer.json().await.unwrap_or_default();
        ["database", "broker", "cache", "tenancy", "dispatcher"]
            .iter()
            .all(|c| view["checks"][c]["ok"] == true)
    };
    while !needed(&http).await {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway never got ready (logs in {})",
            topology.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let endpoint = Arc::new(format!("http://{gateway}/webhooks/meta"));

    // 1. The machine's raw durable insert rate.
    let insert_rate = pgbench(&db_name, seconds)?;

    // 2. Acknowledgement latency at a fixed 1,000 POST/s, after a warm-up
    // that is sent and checked but not timed (the driver's connections are
    // opened and PostgreSQL settles after pgbench; BENCHMARKS.md).
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut pending = Vec::new();
    let started = Instant::now();
    let warm_up = Duration::from_secs(WARM_UP_SECONDS);
    while started.elapsed() < warm_up + Duration::from_secs(seconds) {
        tick.tick().await;
        let timed = started.elapsed() >= warm_up;
        let (http, endpoint, body) = (http.clone(), endpoint.clone(), webhook(sent, &run));
        pending.push(tokio::spawn(async move {
            (timed, post(&http, &endpoint, body).await)
        }));
        sent += 1;
    }
    let mut paced = Vec::with_capacity(pending.len());
    let mut warm_up_slow = 0;
    let mut failed = 0;
    for p in pending {
        let (timed, (ok, took)) = p.await?;
        failed += u64::from(!ok);
        if timed {
            paced.push(took);
        } else if took > Duration::from_millis(25) {
            warm_up_slow += 1;
        }
    }
    let paced_rate = paced.len() as f64 / seconds as f64;
    paced.sort();

    // 3. As fast as `clients` can post.
    let first = sent;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(first));
    let started = Instant::now();
    let stop = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (http, endpoint, counter, run) =
                (http.clone(), endpoint.clone(), counter.clone(), run.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut bad = 0u64;
                while Instant::now() < stop {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (ok, took) = post(&http, &endpoint, webhook(n, &run)).await;
                    bad += u64::from(!ok);
                    times.push(took);
                }
                (times, bad)
            })
        })
        .collect();
    let mut flat = Vec::new();
    for w in workers {
        let (times, bad) = w.await?;
        failed += bad;
        flat.extend(times);
    }
    let acked_for = started.elapsed().as_secs_f64();
    let total = counter.load(std::sync::atomic::Ordering::Relaxed);
    let burst = total - first;
    flat.sort();
    // Applied: until every stored webhook is processed.
    let wait_until = Instant::now() + Duration::from_secs(600);
    loop {
        let left = scalar(
            &db,
            "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        )
        .await?;
        if left == 0 || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied_for = started.elapsed().as_secs_f64();
    let stored = scalar(
        &db,
        &format!("SELECT COUNT(*) FROM messages WHERE wamid LIKE 'wamid.{run}.%'"),
    )
    .await?;
    let distinct = scalar(
        &db,
        &format!("SELECT COUNT(DISTINCT wamid) FROM messages WHERE wamid LIKE 'wamid.{run}.%'"),
    )
    .await?;
    let pending_left = scalar(
        &db,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
    )
    .await?;

    println!(
        "inbound, production topology (gateway, dispatcher, tenancy processes; PostgreSQL, RabbitMQ, Redis), {seconds} s phases"
    );
    println!("  pgbench one-row inserts, 16 clients: {insert_rate:.0}/s");
    println!(
        "  warm-up: {WARM_UP_SECONDS} s at 1,000 POST/s, {warm_up_slow} acknowledgements over 25 ms (not timed)"
    );
    println!(
        "  paced {paced_rate:.0} POST/s: ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&paced, 0.5),
        percentile(&paced, 0.99),
        percentile(&paced, 1.0)
    );
    println!(
        "  {clients} clients flat out: {burst} webhooks acknowledged in {acked_for:.1} s ({:.0}/s, p99 ack {:.2} ms); all applied after {applied_for:.1} s ({:.0}/s)",
        burst as f64 / acked_for,
        percentile(&flat, 0.99),
        burst as f64 / applied_for
    );
    println!(
        "  ingest (acknowledged) / pgbench: {:.0}%; applied / pgbench: {:.0}%",
        100.0 * burst as f64 / acked_for / insert_rate,
        100.0 * burst as f64 / applied_for / insert_rate
    );
    println!(
        "  sent {total}, refused {failed}, stored {stored} ({distinct} distinct wamids), still unprocessed {pending_left}"
    );
    anyhow::ensure!(
        failed == 0 && stored == total as i64 && distinct == stored && pending_left == 0,
        "lost or duplicated webhooks (logs in {})",
        topology.logs().display()
    );
    Ok(())
}
