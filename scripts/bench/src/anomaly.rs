//! Anomaly detection end to end, in the production topology: `aerostic
//! anomaly` as its own process on PostgreSQL, RabbitMQ and Redis; this
//! driver plays the gateways, publishing ordinary signals at a steady rate
//! through the same batching publisher and enforcing through the same shield
//! (polling the mitigations in force).
//!
//! Every half second a probe publishes a burst of failed logins for a fresh
//! account and times how long until the shield refuses that account: event
//! published → mitigation visible at the edge.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-anomaly [seconds] [events_per_second]`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aerostic_gateway::shield::Shield;
use aerostic_kit::db::testing::fresh_postgres_database;
use aerostic_kit::signals::{Signal, SignalKeys, SignalKind, Signals};
use aerostic_launcher::topology::{Topology, free_port, service_env};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::anomaly_client::AnomalyClient;

const BURST: usize = 25;

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

/// Cumulative CPU seconds of process `pid` (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let rate: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let binary = std::env::current_exe()?.with_file_name("aerostic");
    anyhow::ensure!(
        binary.exists(),
        "build it first: cargo build --release -p aerostic"
    );

    let url = fresh_postgres_database().await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let namespace = format!("benchanomaly{run}");
    let amqp = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let grpc = free_port();
    let mut env: Vec<(String, String)> = vec![
        ("AEROSTIC_DATABASE_URL".into(), url.clone()),
        ("AEROSTIC_BROKER_URL".into(), amqp.into()),
        ("AEROSTIC_CACHE_URL".into(), "redis://127.0.0.1:6379".into()),
        ("AEROSTIC_NAMESPACE".into(), namespace.clone()),
        (
            "AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS".into(),
            "300".into(),
        ),
        (
            "AEROSTIC_ENCRYPTION_KEYS".into(),
            aerostic_kit::crypto::KeyRing::generate_spec("b1"),
        ),
        ("AEROSTIC_JWT_SECRET".into(), "b".repeat(40)),
        ("AEROSTIC_LOG".into(), "warn".into()),
    ];
    env.extend(service_env("ANOMALY", grpc));
    let logs = std::env::temp_dir().join(format!("aerostic-bench-anomaly-{run}"));
    let mut topology = Topology::new(&binary, env, &logs)?;
    anyhow::ensure!(topology.run(&["migrate"])?, "aerostic migrate failed");
    topology.start("anomaly")?;
    let pid = topology.pid("anomaly").expect("just started");

    let client = AnomalyClient::new(aerostic_kit::grpc::channel(&format!("http://{grpc}"))?);
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .clone()
        .model_info(pb::ModelInfoRequest {})
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the anomaly service never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let broker =
        aerostic_kit::broker::connect(amqp, &namespace, Some(Duration::from_secs(300))).await?;
    let cache = aerostic_kit::cache::connect("redis://127.0.0.1:6379", &namespace).await?;
    let keys = SignalKeys::new(b"bench signal keys, any 32 bytes or more");
    let signals = Signals::spawn(broker.clone());
    let shield = Shield::new(cache, Signals::off(), keys.clone());
    let poller = shield.spawn_poller(client.clone());

    // Ordinary traffic: 200 workspaces, a key each, 500 IPs, every 10 ms.
    let published = Arc::new(AtomicU64::new(0));
    let background = {
        let (signals, published) = (signals.clone(), published.clone());
        tokio::spawn(async move {
            let per_tick = (rate / 100).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                for _ in 0..per_tick {
                    n += 1;
                    let tenant = n % 200;
                    signals.record(
                        Signal::now(SignalKind::ApiCall {
                            method: if n.is_multiple_of(3) {
                                "POST".into()
                            } else {
                                "GET".into()
                            },
                            route: "/v1/messages".into(),
                            status: if n.is_multiple_of(50) { 404 } else { 200 },
                        })
                        .tenant(format!("00000000-0000-7000-8000-{tenant:012}"))
                        .api_key(Some(&format!("key{tenant}")))
                        .ip(Some(format!(
                            "10.0.{}.{}",
                            (n % 500) / 250,
                            n % 250
                        ))),
                    );
                }
                published.fetch_add(per_tick, Ordering::Relaxed);
            }
        })
    };

    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut missed = 0;
    let mut probe = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        probe += 1;
        let email = format!("probe{probe}-{run}@example.com");
        let account = keys.account(&email);
        let sent = Instant::now();
        for _ in 0..BURST {
            signals.record(
                Signal::now(SignalKind::Login {
                    account: account.clone(),
                    ok: false,
                })
                .ip(Some("192.0.2.1".into())),
            );
        }
        let give_up = sent + Duration::from_secs(5);
        loop {
            if shield.check_login(&email).is_err() {
                latencies.push(sent.elapsed());
                break;
            }
            if Instant::now() > give_up {
                missed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let next = sent + Duration::from_millis(500);
        tokio::time::sleep_until(next.into()).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    background.abort();
    poller.abort();
    let backlog = broker.queue_len("anomaly.signals").await.unwrap_or(0);
    topology.kill("anomaly");

    latencies.sort();
    let events = published.load(Ordering::Relaxed) + (probe * BURST) as u64;
    println!(
        "anomaly: {seconds} s at {rate} events/s (200 workspaces, 200 keys, 500 IPs), a login-burst probe every 0.5 s"
    );
    println!(
        "  events published        {events} ({:.0}/s)",
        events as f64 / elapsed
    );
    println!("  queue backlog at end    {backlog} batches");
    println!(
        "  anomaly process CPU     {cpu:.1} s ({:.2} CPU-s per 1,000 events)",
        cpu * 1000.0 / events as f64
    );
    if latencies.is_empty() {
        anyhow::bail!("no probe was ever mitigated ({missed} missed)");
    }
    println!(
        "  published → enforced    p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} probes, {missed} missed)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        latencies.len()
    );
    Ok(())
}
