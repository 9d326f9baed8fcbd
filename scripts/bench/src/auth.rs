//! Identity figures: what authenticating a request costs the gateway (a JWT
//! verified locally; an API key found in the in-process cache), and how many
//! password logins per second argon2id allows on this machine.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-auth [iterations] [login-seconds]`
//!
//! Runs the embedded platform (SQLite, in-process broker and cache) in this
//! process; the authentication figure is the gateway's own step, timed
//! around `AppState::authenticate`, so no HTTP or network time is in it.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aerostic_kit::config::Upstreams;
use aerostic_kit::context::Connections;
use aerostic_launcher::{DevOptions, Platform, prepare_dev};
use serde_json::{Value, json};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

async fn time_auth(
    state: &aerostic_gateway::AppState,
    credential: &str,
    n: usize,
) -> Vec<Duration> {
    // What the `Caller` extractor does: authenticate, then (for access
    // tokens) the cached tenant-status check. Warm: the first use asks
    // tenancy and fills the caches.
    async fn caller(state: &aerostic_gateway::AppState, credential: &str) -> bool {
        match state.authenticate(credential).await {
            Ok(identity) if identity.api_key_id.is_some() => true,
            Ok(identity) => state.tenant_active(&identity).await.unwrap_or(false),
            Err(_) => false,
        }
    }
    assert!(caller(state, credential).await, "valid credential");
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let ok = caller(state, credential).await;
        samples.push(started.elapsed());
        assert!(ok);
    }
    samples.sort();
    samples
}

async fn post(
    http: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let login_secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let data_dir =
        std::env::temp_dir().join(format!("aerostic-bench-auth-{}", uuid::Uuid::new_v4()));
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let spec = prepare_dev(&DevOptions {
        data_dir: data_dir.clone(),
        gateway_addr: any,
        grpc_base_port: 0,
        sandbox_addr: any,
    })?;
    let (backends, secrets) = (spec.backends.clone(), spec.secrets.clone());
    let platform = Platform::start(spec).await?;
    let base = format!("http://{}", platform.gateway);
    let http = reqwest::Client::new();

    let password = "correct horse battery";
    let (status, _) = post(
        &http,
        format!("{base}/v1/auth/register"),
        None,
        json!({"tenant_name": "Bench", "email": "bench@example.com", "password": password}),
    )
    .await;
    anyhow::ensure!(status == 201, "register: {status}");
    let login = json!({"email": "bench@example.com", "password": password});
    let (_, session) = post(&http, format!("{base}/v1/auth/login"), None, login.clone()).await;
    let access = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, key) = post(
        &http,
        format!("{base}/v1/billing/api-keys"),
        Some(&access),
        json!({"name": "bench", "scopes": ["messages:send"]}),
    )
    .await;
    anyhow::ensure!(status == 201, "api key: {status}");
    let secret = key["secret"].as_str().unwrap_or_default().to_string();

    let conns = Connections::connect(&backends).await?;
    let state = aerostic_gateway::AppState::new(
        Upstreams::at(platform.grpc.clone()),
        conns,
        &secrets,
        "localhost",
    )?;
    for (what, credential) in [("JWT access token", &access), ("API key (cached)", &secret)] {
        let samples = time_auth(&state, credential, iterations).await;
        println!(
            "authenticate {what}: {iterations} calls, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            percentile(&samples, 0.50),
            percentile(&samples, 0.99),
            percentile(&samples, 1.0),
        );
    }

    // Logins: as many clients as cores keep argon2id busy.
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(login_secs);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, base, login, done) = (http.clone(), base.clone(), login.clone(), done.clone());
        workers.spawn(async move {
            while Instant::now() < deadline {
                let (status, _) =
                    post(&http, format!("{base}/v1/auth/login"), None, login.clone()).await;
                assert_eq!(status, 200);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    workers.join_all().await;
    let n = done.load(Ordering::Relaxed);
    println!(
        "password logins (argon2id, 4 concurrent clients): {n} in {:.1} s: {:.1} logins/s",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    platform.stop().await;
    let _ = std::fs::remove_dir_all(data_dir);
    Ok(())
}
