//! Billing through its gRPC API, as the dispatcher will call it: tasks
//! reserve then settle messages of one tenant (one hot wallet), each call a
//! real gRPC request with a sealed caller identity, quoting the price as
//! `Reserve` does. The platform runs in this process on PostgreSQL (a fresh
//! database) with the in-process broker and cache; the ledger is checked
//! afterwards.
//!
//! Usage: `cargo run --release -p aerostic-bench --bin bench-billing-grpc [seconds] [tasks] [channels]`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "ledger_check.rs"]
mod ledger_check;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aerostic_billing::ledger::Kind;
use aerostic_billing::money::Currency;
use aerostic_billing::wallet::Op;
use aerostic_billing::writer::Wallets;
use aerostic_kit::config::ServiceName;
use aerostic_kit::identity::{Identity, Role};
use aerostic_launcher::{DevOptions, Platform, prepare_dev};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_client::BillingClient;
use serde_json::{Value, json};

async fn post(http: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let tasks: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(256);
    let channels: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let data_dir =
        std::env::temp_dir().join(format!("aerostic-bench-billing-{}", uuid::Uuid::new_v4()));
    let mut spec = prepare_dev(&DevOptions {
        data_dir,
        gateway_addr: any,
        grpc_base_port: 0,
        sandbox_addr: any,
    })?;
    spec.backends.database_url = aerostic_kit::db::testing::fresh_postgres_database().await?;
    let (url, seal) = (
        spec.backends.database_url.clone(),
        spec.secrets.identity_seal(),
    );
    let platform = Platform::start(spec).await?;
    let base = format!("http://{}", platform.gateway);
    let http = reqwest::Client::new();
    let email = "bench@example.com";
    let password = "correct horse battery";
    post(
        &http,
        format!("{base}/v1/auth/register"),
        None,
        json!({"tenant_name": "Bench", "email": email, "password": password}),
    )
    .await;
    let session = post(
        &http,
        format!("{base}/v1/auth/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    let token = session["access_token"].as_str().unwrap_or_default();
    let me: Value = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let caller = Identity {
        tenant_id: me["tenant_id"].as_str().unwrap_or_default().parse()?,
        user_id: me["user_id"].as_str().map(|u| u.parse()).transpose()?,
        role: Role::parse(me["role"].as_str().unwrap_or_default())
            .ok_or_else(|| anyhow::anyhow!("a role"))?,
        api_key_id: None,
        scopes: vec![],
    };
    // Fund the wallet directly in the ledger (the bench is not a super admin).
    let db = aerostic_kit::db::connect(&url).await?;
    Wallets::new(db.clone(), Currency::parse("USD").unwrap())
        .run(
            caller.tenant_id,
            Op::Credit {
                kind: Kind::TopUp,
                reference: "bench".into(),
                amount: i64::MAX / 4,
                detail: String::new(),
            },
        )
        .await?;

    let addr = platform
        .grpc
        .iter()
        .find(|(name, _)| *name == ServiceName::Billing)
        .map(|(_, addr)| *addr)
        .ok_or_else(|| anyhow::anyhow!("billing runs"))?;
    let clients: Vec<_> = (0..channels)
        .map(|_| aerostic_kit::grpc::channel(&format!("http://{addr}")).map(BillingClient::new))
        .collect::<Result<_, _>>()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let mut client = clients[i % channels].clone();
            let (seal, caller) = (seal.clone(), caller.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    let message_id = uuid::Uuid::now_v7().to_string();
                    let mut reserve = tonic::Request::new(pb::ReserveRequest {
                        message_id: message_id.clone(),
                        message: Some(pb::PricedMessage {
                            category: "marketing".into(),
                            country: "BR".into(),
                            ..Default::default()
                        }),
                    });
                    seal.attach(&mut reserve, &caller);
                    let held = client.reserve(reserve).await.unwrap().into_inner();
                    assert_eq!(held.state, "held");
                    let mut settle = tonic::Request::new(pb::SettleRequest { message_id });
                    seal.attach(&mut settle, &caller);
                    let settled = client.settle(settle).await.unwrap().into_inner();
                    assert_eq!(settled.state, "settled");
                    samples.push(begun.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for handle in handles {
        samples.extend(handle.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let (transactions, negative, unbalanced) = ledger_check::check(&db).await;
    println!(
        "billing over gRPC on postgres: {tasks} tasks on {channels} channels, one wallet, {seconds} s"
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
