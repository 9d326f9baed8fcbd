//! Foundation figures: resident memory of each process when idle, and the
//! time from starting `aerostic dev` to `/readyz` answering 200.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-foundation -- [path/to/aerostic]`
//! (default `target/release/aerostic`). Service processes run against the
//! local PostgreSQL, Redis and RabbitMQ, as in production.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aerostic_kit::crypto::KeyRing;

fn free_port() -> u16 {
    aerostic_launcher::topology::free_port().port()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_ready(url: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    while started.elapsed() < limit {
        if let Ok(r) = http.get(url).send().await
            && r.status().as_u16() == 200
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn dev_figures(bin: &PathBuf, runs: usize) -> anyhow::Result<()> {
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let dir = tempfile_dir();
        let port = free_port();
        let started = Instant::now();
        let child = Killed(
            Command::new(bin)
                .args([
                    "dev",
                    "--grpc-base-port",
                    "0",
                    "--sandbox-addr",
                    "127.0.0.1:0",
                    "--gateway-addr",
                ])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let ready = wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(30),
        )
        .await
        .ok_or_else(|| anyhow::anyhow!("aerostic dev never became ready"))?;
        times.push(ready.max(started.elapsed()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss = rss.max(rss_kib(child.0.id()));
        drop(child);
        let _ = std::fs::remove_dir_all(&dir);
    }
    times.sort();
    println!(
        "aerostic dev: start to /readyz 200 over {runs} clean starts: median {:.0} ms, max {:.0} ms; idle RSS max {:.1} MiB",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times.last().unwrap().as_secs_f64() * 1000.0,
        rss as f64 / 1024.0
    );
    Ok(())
}

fn tempfile_dir() -> PathBuf {
    std::env::temp_dir().join(format!("aerostic-bench-{}", uuid::Uuid::new_v4().simple()))
}

async fn service_figures(bin: &PathBuf) -> anyhow::Result<()> {
    let db = aerostic_kit::db::testing::fresh_postgres_database().await?;
    aerostic_launcher::migrate(&db).await?;
    let env = [
        ("AEROSTIC_DATABASE_URL", db),
        (
            "AEROSTIC_BROKER_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
        ),
        ("AEROSTIC_CACHE_URL", "redis://127.0.0.1:6379".to_string()),
        (
            "AEROSTIC_NAMESPACE",
            format!("bench{}", uuid::Uuid::new_v4().simple()),
        ),
        ("AEROSTIC_ENCRYPTION_KEYS", KeyRing::generate_spec("b1")),
        ("AEROSTIC_JWT_SECRET", "b".repeat(40)),
    ];
    let names = [
        "tenancy",
        "dispatcher",
        "automation",
        "billing",
        "anomaly",
        "gateway",
    ];
    let mut children = Vec::new();
    let mut extra: Vec<(String, String)> = Vec::new();
    for name in &names[..5] {
        let (grpc, metrics) = (free_port(), free_port());
        let upper = name.to_uppercase();
        extra.push((
            format!("AEROSTIC_{upper}_URL"),
            format!("http://127.0.0.1:{grpc}"),
        ));
        extra.push((
            format!("AEROSTIC_{upper}_GRPC_ADDR"),
            format!("127.0.0.1:{grpc}"),
        ));
        extra.push((
            format!("AEROSTIC_{upper}_METRICS_ADDR"),
            format!("127.0.0.1:{metrics}"),
        ));
    }
    let gateway_port = free_port();
    extra.push((
        "AEROSTIC_GATEWAY_ADDR".into(),
        format!("127.0.0.1:{gateway_port}"),
    ));
    for name in names {
        let child = Command::new(bin)
            .arg(name)
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .envs(extra.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        children.push((name, Killed(child)));
    }
    wait_ready(
        &format!("http://127.0.0.1:{gateway_port}/readyz"),
        Duration::from_secs(30),
    )
    .await
    .ok_or_else(|| anyhow::anyhow!("the separate processes never became ready"))?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, child) in &children {
        println!(
            "{name:<11} idle RSS {:.1} MiB",
            rss_kib(child.0.id()) as f64 / 1024.0
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/release/aerostic".into()),
    );
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it with cargo build --release",
        bin.display()
    );
    dev_figures(&bin, 5).await?;
    service_figures(&bin).await?;
    Ok(())
}
