//! Sandbox figures: valid sends accepted per second, and signed webhooks
//! delivered per second to a receiver that answers 200 at once. Everything
//! runs on this machine over loopback with keep-alive; the load generator
//! shares the cores with the sandbox, as it would in our load tests.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-sandbox [seconds] [connections]`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aerostic_sandbox::webhooks::RetryPolicy;
use aerostic_sandbox::{Sandbox, Seed};
use serde_json::{Value, json};

const CTL: &str = "bench";
/// Enough upgraded numbers (1,000 msg/s each) that Meta's throughput limit is
/// not what the figure measures.
const NUMBERS: usize = 60;
/// Customers per number, each with an open window on that number only.
const PER_NUMBER: usize = 5_000;

fn phone(r: usize) -> String {
    format!("55119{r:08}")
}

/// The number and recipient of the `n`-th send: each pair is used once per
/// NUMBERS * PER_NUMBER sends, so the pair limit does not bite either.
fn pair(n: usize) -> (usize, String) {
    let number = n % NUMBERS;
    let slot = (n / NUMBERS) % PER_NUMBER;
    (number, phone(number * PER_NUMBER + slot))
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> u16 {
    http.post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let seed = Seed::default();
    let sandbox = Sandbox::new(seed.clone(), CTL).with_retry_policy(RetryPolicy::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(aerostic_sandbox::run(
        sandbox,
        listener,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();

    // Setup: upgraded numbers (1,000 msg/s each) and open service windows.
    let mut numbers = Vec::new();
    for _ in 0..NUMBERS {
        let resp: Value = http
            .post(format!("{base}/_sandbox/numbers"))
            .bearer_auth(CTL)
            .json(&json!({"throughput_per_sec": 1000}))
            .send()
            .await?
            .json()
            .await?;
        numbers.push(resp["id"].as_str().unwrap_or_default().to_string());
    }
    let mut setup = tokio::task::JoinSet::new();
    for chunk in 0..connections {
        let (http, base, numbers) = (http.clone(), base.clone(), numbers.clone());
        setup.spawn(async move {
            for n in (chunk..NUMBERS * PER_NUMBER).step_by(connections) {
                let (number, to) = pair(n);
                let url = format!("{base}/_sandbox/numbers/{}/inbound", numbers[number]);
                post(&http, &url, CTL, &json!({"from": to, "text": "hi"})).await;
            }
        });
    }
    setup.join_all().await;

    // 1. Sends.
    let ok = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let (base, numbers, token) = (base.clone(), numbers.clone(), seed.access_token.clone());
        let (ok, other) = (ok.clone(), other.clone());
        load.spawn(async move {
            let mut n = worker;
            while Instant::now() < deadline {
                let (number, to) = pair(n);
                let body = json!({"messaging_product": "whatsapp", "to": to, "type": "text",
                                  "text": {"body": "benchmark"}});
                let url = format!("{base}/v21.0/{}/messages", numbers[number]);
                let status = post(&client, &url, &token, &body).await;
                if status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    other.fetch_add(1, Ordering::Relaxed)
                };
                n += connections;
            }
        });
    }
    load.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    let (ok, other) = (ok.load(Ordering::Relaxed), other.load(Ordering::Relaxed));
    println!(
        "sends: {ok} accepted, {other} refused in {elapsed:.1} s over {connections} keep-alive connections: {:.0} accepted/s",
        ok as f64 / elapsed
    );

    // 2. Webhooks: subscribe a receiver that answers 200, then have customers write.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::get(
            |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                q.get("hub.challenge").cloned().unwrap_or_default()
            },
        )
        .post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { "" }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let callback = format!("http://{}/hook", hook_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(hook_listener, receiver).await });
    let status = post(
        &http,
        &format!("{base}/v21.0/{}/subscribed_apps", seed.waba_id),
        &seed.access_token,
        &json!({"override_callback_uri": callback, "verify_token": "v"}),
    )
    .await;
    anyhow::ensure!(status == 200, "subscription failed: {status}");
    // Queue webhooks with customer messages, then time their delivery.
    let total = 50_000usize;
    let mut produce = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let (http, base, number) = (http.clone(), base.clone(), numbers[0].clone());
        produce.spawn(async move {
            for n in (worker..total).step_by(connections) {
                let url = format!("{base}/_sandbox/numbers/{number}/inbound");
                post(
                    &http,
                    &url,
                    CTL,
                    &json!({"from": phone(n), "text": "héllo @ 😮"}),
                )
                .await;
            }
        });
    }
    let started = Instant::now();
    produce.join_all().await;
    while received.load(Ordering::Relaxed) < total as u64
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    println!(
        "webhooks: {got} of {total} signed deliveries in {elapsed:.2} s: {:.0} delivered/s",
        got as f64 / elapsed
    );
    Ok(())
}
