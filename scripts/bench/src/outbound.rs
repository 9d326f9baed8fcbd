//! Outbound figures in the production topology: `aerostic gateway`,
//! `tenancy`, `billing` and `dispatcher` as separate processes on
//! PostgreSQL, RabbitMQ and Redis, and `aerostic sandbox` as Meta. Ten
//! workspaces with ten numbers each (100 numbers, 80 msg/s each at Meta)
//! send a paid utility template to a new recipient per message through
//! `POST /v1/messages/send`, end to end: API → outbox → RabbitMQ → send
//! worker (paced per number) → sandbox → wamid recorded.
//!
//! 1. API latency at a fixed `rate` sends/s (1,000 unless given) for `seconds`
//!    (after a 2 s warm-up);
//! 2. `clients` posting back to back for `seconds`: the API's rate, and the
//!    end-to-end rate until every message has its wamid; the machine's CPU
//!    time over that span per 1,000 messages (every process, databases
//!    and the sandbox included), and each process's per message
//!    (PostgreSQL's backends, RabbitMQ and Redis summed by command name);
//!
//! then checks that every message was accepted once, that no number went
//! over 80 in any second, and that Meta never answered 130429.
//!
//! Build first: `cargo build --release -p aerostic -p aerostic-bench`, then
//! `target/release/bench-outbound [seconds] [clients] [rate]`.
//!
//! Also printed: PostgreSQL's rows, index entries and WAL per message, figures
//! the host's speed does not move. Knobs: `BENCH_BATCH=100` sends the
//! flat-out phase through `POST /v1/messages/batch`, that many a request;
//! `BENCH_PERF=on` counts context switches and system calls (`perf stat`);
//! `BENCH_SQL` runs statements after the migrations; `BENCH_PG_TLS=on`
//! connects to PostgreSQL over TLS; `BENCH_STATEMENTS=on` prints the paced
//! phase's statements per message (PostgreSQL must preload
//! `pg_stat_statements`).
//!
//! The paced phase also prints its own CPU per message by process: at a
//! rate below the flat-out one, fewer sends arrive together, so each costs
//! more (more wake-ups, fewer shared statements).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod histograms;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aerostic_kit::db::testing::{fresh_postgres_database, scalar};
use aerostic_kit::identity::{Identity, IdentitySeal, Role};
use aerostic_launcher::topology::{Topology, free_port, service_env};
use aerostic_proto::v1 as pb;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const CONTROL: &str = "bench-control";
const JWT_SECRET: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const WORKSPACES: usize = 10;
const NUMBERS_EACH: usize = 10;
const APP: &str = "app.localhost";
/// The platform's processes, in start order.
const SERVICES: [&str; 5] = ["sandbox", "tenancy", "billing", "dispatcher", "gateway"];
/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A workspace: its access token and its numbers.
struct Sender {
    token: String,
    numbers: Vec<String>,
}

/// Busy and total jiffies of the whole machine.
fn cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().sum();
    (total - idle, total)
}

/// `BENCH_STATEMENTS=on`: which statements the paced phase ran, how often
/// per message (`pg_stat_statements`, which must be in PostgreSQL's
/// `shared_preload_libraries`; its counts are the whole server's).
struct Statements;

impl Statements {
    async fn start(db: &sea_orm::DatabaseConnection) -> Option<Self> {
        if std::env::var("BENCH_STATEMENTS").as_deref() != Ok("on") {
            return None;
        }
        match db
            .execute_unprepared(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()",
            )
            .await
        {
            Ok(_) => Some(Self),
            Err(e) => {
                eprintln!("no statement counts (is pg_stat_statements preloaded?): {e}");
                None
            }
        }
    }

    /// The busiest statements since [`Statements::start`]: calls, time
    /// inside PostgreSQL (ms), rows and the statement's start.
    async fn read(
        self,
        db: &sea_orm::DatabaseConnection,
    ) -> anyhow::Result<Vec<(i64, f64, i64, String)>> {
        use sea_orm::{DbBackend, Statement};
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT calls::bigint, total_exec_time::float8, rows::bigint,
                        left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                 FROM pg_stat_statements ORDER BY calls DESC LIMIT 12",
            ))
            .await?;
        let mut counted = Vec::new();
        for row in rows {
            counted.push((
                row.try_get_by_index(0)?,
                row.try_get_by_index(1)?,
                row.try_get_by_index(2)?,
                row.try_get_by_index(3)?,
            ));
        }
        Ok(counted)
    }

    fn print(counted: &[(i64, f64, i64, String)], messages: u64) {
        println!(
            "    statements per message (calls, ms inside PostgreSQL per call, rows per call):"
        );
        for (calls, ms, n, text) in counted {
            let (calls, n) = (*calls, *n);
            println!(
                "      {:.2}  {:.3} ms  {:.1} rows  {text}",
                calls as f64 / messages.max(1) as f64,
                ms / calls.max(1) as f64,
                n as f64 / calls.max(1) as f64
            );
        }
    }
}

/// The share of the machine's CPU time busy between two [`cpu`] readings.
fn busy_share((busy0, total0): (u64, u64), (busy1, total1): (u64, u64)) -> f64 {
    (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64
}

/// Each process group's CPU milliseconds per message between two
/// [`process_ticks`] readings, busiest first.
fn per_message(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    messages: u64,
) -> String {
    let mut shares: Vec<(&str, f64)> = after
        .iter()
        .map(|(group, later)| {
            let used = later.saturating_sub(before.get(group).copied().unwrap_or(0));
            (
                *group,
                used as f64 / TICKS_PER_SECOND / messages.max(1) as f64 * 1e3,
            )
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shares: Vec<String> = shares
        .iter()
        .map(|(group, ms)| format!("{group} {ms:.2}"))
        .collect();
    shares.join(", ")
}

/// Clock ticks of user and system time per process group: our services by
/// pid, the local servers by command name (every PostgreSQL backend, the
/// RabbitMQ VM, Redis) and this driver. A process that exits in between is
/// not counted: pooled connections keep their backends, so few do.
fn process_ticks(services: &[(&'static str, Option<u32>)]) -> BTreeMap<&'static str, u64> {
    let ticks = |pid: &str| -> Option<(String, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = stat.rsplit_once(") ")?;
        let comm = head.split_once(" (")?.1.to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime, fields 14 and 15 of proc(5), 12th and 13th after the name.
        let used = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((comm, used))
    };
    let mut by_group = BTreeMap::new();
    for (name, pid) in services {
        if let Some((_, used)) = pid.and_then(|p| ticks(&p.to_string())) {
            by_group.insert(*name, used);
        }
    }
    by_group.insert("bench driver", ticks("self").map_or(0, |(_, used)| used));
    let servers = [
        ("postgres", "postgresql"),
        ("beam.smp", "rabbitmq"),
        ("redis-server", "redis"),
    ];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((comm, used)) = ticks(&pid)
            && let Some((_, group)) = servers.iter().find(|(c, _)| *c == comm)
        {
            *by_group.entry(*group).or_insert(0) += used;
        }
    }
    by_group
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
}

/// The template for recipient `n`, from one of the sender's numbers in turn.
fn restock(sender: &Sender, n: u64) -> Value {
    let number = &sender.numbers[n as usize % sender.numbers.len()];
    json!({"to": format!("+1415{:07}", n), "from_phone_number_id": number, "type": "template",
        "template": {"name": "restock", "language": {"code": "en_US"}}})
}

async fn send(http: &reqwest::Client, base: &str, sender: &Sender, n: u64) -> (bool, Duration) {
    let body = restock(sender, n);
    let started = Instant::now();
    let ok = http
        .post(format!("{base}/v1/messages/send"))
        .header("host", APP)
        .bearer_auth(&sender.token)
        .json(&body)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 202);
    (ok, started.elapsed())
}

/// `batch` sends (`BENCH_BATCH`; 1: `POST /v1/messages/send`, more:
/// `POST /v1/messages/batch`) for the recipients from `n` on, spread over
/// the sender's numbers: how many were refused, and the request's time.
async fn send_batch(
    http: &reqwest::Client,
    base: &str,
    sender: &Sender,
    n: u64,
    batch: u64,
) -> (u64, Duration) {
    if batch == 1 {
        let (ok, took) = send(http, base, sender, n).await;
        return (u64::from(!ok), took);
    }
    let messages: Vec<Value> = (n..n + batch).map(|m| restock(sender, m)).collect();
    let started = Instant::now();
    let answer = http
        .post(format!("{base}/v1/messages/batch"))
        .header("host", APP)
        .bearer_auth(&sender.token)
        .json(&json!({ "messages": messages }))
        .send()
        .await;
    let queued = match answer {
        Ok(r) if r.status().as_u16() == 200 => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["queued"].as_u64())
            .unwrap_or(0),
        _ => 0,
    };
    (batch - queued.min(batch), started.elapsed())
}

/// How many messages a flat-out request carries (`BENCH_BATCH`, 1 to 100).
fn batch_size() -> u64 {
    std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1u64)
        .clamp(1, 100)
}

/// `clients` posting back to back for `seconds`: each request's time, and
/// how many messages were refused.
async fn flat_out(
    http: &reqwest::Client,
    base: &str,
    senders: &Arc<Vec<Sender>>,
    counter: &Arc<AtomicU64>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, senders, counter) = (
                http.clone(),
                base.to_string(),
                senders.clone(),
                counter.clone(),
            );
            tokio::spawn(async move {
                let (mut times, mut bad) = (Vec::new(), 0u64);
                let batch = batch_size();
                while Instant::now() < stop {
                    let n = counter.fetch_add(batch, Ordering::Relaxed);
                    let sender = &senders[(n / batch) as usize % WORKSPACES];
                    // One at a time, recipients are unique per workspace;
                    // in batches, they are unique overall.
                    let first = if batch == 1 { n / WORKSPACES as u64 } else { n };
                    let (refused, took) = send_batch(&http, &base, sender, first, batch).await;
                    bad += refused;
                    times.push(took);
                }
                (times, bad)
            })
        })
        .collect();
    let (mut all, mut refused) = (Vec::new(), 0);
    for w in workers {
        let (times, bad) = w.await?;
        refused += bad;
        all.extend(times);
    }
    Ok((all, refused))
}

async fn accepted(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    Ok(scalar(db, "SELECT COUNT(*) FROM sends WHERE state = 'accepted'").await?)
}

/// Waits until `expected` sends are accepted; when that was.
async fn drained(db: &sea_orm::DatabaseConnection, expected: i64) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(900);
    // Every send the API answered has its row: it is done when none is
    // left in play (counted on the small partial index, so that polling
    // costs PostgreSQL next to nothing); then the accepted ones are counted.
    loop {
        let left = scalar(
            db,
            "SELECT COUNT(*) FROM sends WHERE state IN ('queued', 'sending')",
        )
        .await?;
        if left == 0 {
            let done = accepted(db).await?;
            anyhow::ensure!(
                done >= expected,
                "{} sends failed, were held or dead-lettered",
                expected - done
            );
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "sends never drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Instant::now())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(128);
    let rate: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
        .max(1);
    let binary = std::env::current_exe()?.with_file_name("aerostic");
    anyhow::ensure!(
        binary.exists(),
        "build it first: cargo build --release -p aerostic"
    );

    // Loopback connections go without TLS (`kit::db::connect`);
    // `BENCH_PG_TLS=on` asks for it, to measure what it costs.
    let mut url = fresh_postgres_database().await?;
    if std::env::var("BENCH_PG_TLS").as_deref() == Ok("on") {
        url.push_str("?sslmode=require");
    }
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let seed = aerostic_sandbox::Seed::default();
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let [tenancy, billing, dispatcher, gateway, sandbox] = ports;
    let mut env: Vec<(String, String)> = vec![
        ("AEROSTIC_DATABASE_URL".into(), url.clone()),
        (
            "AEROSTIC_BROKER_URL".into(),
            "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        ),
        ("AEROSTIC_CACHE_URL".into(), "redis://127.0.0.1:6379".into()),
        ("AEROSTIC_NAMESPACE".into(), format!("benchout{run}")),
        (
            "AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS".into(),
            "300".into(),
        ),
        (
            "AEROSTIC_ENCRYPTION_KEYS".into(),
            aerostic_kit::crypto::KeyRing::generate_spec("b1"),
        ),
        ("AEROSTIC_JWT_SECRET".into(), JWT_SECRET.into()),
        ("AEROSTIC_META_APP_ID".into(), seed.app_id.clone()),
        ("AEROSTIC_META_APP_SECRET".into(), seed.app_secret.clone()),
        ("AEROSTIC_META_WEBHOOK_VERIFY_TOKEN".into(), "bench".into()),
        (
            "AEROSTIC_META_GRAPH_URL".into(),
            format!("http://{sandbox}"),
        ),
        (
            "AEROSTIC_META_SYSTEM_USER_TOKEN".into(),
            seed.access_token.clone(),
        ),
        ("AEROSTIC_SANDBOX_ADDR".into(), sandbox.to_string()),
        ("AEROSTIC_SANDBOX_CONTROL_TOKEN".into(), CONTROL.into()),
        ("AEROSTIC_GATEWAY_ADDR".into(), gateway.to_string()),
        ("AEROSTIC_LOG".into(), "warn".into()),
    ];
    for (name, addr) in [
        ("TENANCY", tenancy),
        ("BILLING", billing),
        ("DISPATCHER", dispatcher),
    ] {
        env.extend(service_env(name, addr));
    }
    let metrics_of = |service: &str| {
        let name = format!("AEROSTIC_{service}_METRICS_ADDR");
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| format!("http://{v}/metrics"))
            .unwrap_or_default()
    };
    let scraped = [
        ("gateway", format!("http://{gateway}/metrics")),
        ("dispatcher", metrics_of("DISPATCHER")),
        ("billing", metrics_of("BILLING")),
    ];
    let logs = std::env::temp_dir().join(format!("aerostic-bench-outbound-{run}"));
    let mut topology = Topology::new(&binary, env, &logs)?;
    anyhow::ensure!(topology.run(&["migrate"])?, "aerostic migrate failed");
    for service in SERVICES {
        topology.start(service)?;
    }
    let db = aerostic_kit::db::connect(&url).await?;
    // `BENCH_SQL` (statements separated by `;`) runs after the migrations and
    // before any traffic: a schema or storage change tried without a rebuild.
    if let Ok(sql) = std::env::var("BENCH_SQL") {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.execute_unprepared(statement).await?;
            println!("  ran: {statement}");
        }
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    let base = format!("http://{gateway}");
    let meta = format!("http://{sandbox}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view: Value = match http.get(format!("{base}/readyz")).send().await {
            Ok(a) => a.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let ready = [
            "database",
            "broker",
            "cache",
            "tenancy",
            "dispatcher",
            "billing",
        ]
        .iter()
        .all(|c| view["checks"][c]["ok"] == true);
        let meta_up = http
            .get(format!("{meta}/_sandbox/switches"))
            .bearer_auth(CONTROL)
            .send()
            .await
            .is_ok();
        if ready && meta_up {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "never ready (logs in {})",
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Meta's side: the template, approved; statuses batched as Meta does
    // for busy numbers; nobody subscribed to webhooks (inbound is its own bench).
    let made: Value = http
        .post(format!("{meta}/v23.0/{}/message_templates", seed.waba_id))
        .bearer_auth(&seed.access_token)
        .json(
            &json!({"name": "restock", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Back in stock"}]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let template_id = made["id"].as_str().unwrap_or_default().to_string();
    http.post(format!("{meta}/_sandbox/templates/{template_id}/status"))
        .bearer_auth(CONTROL)
        .json(&json!({"status": "APPROVED"}))
        .send()
        .await?;

    // Ten workspaces, each with ten numbers, our copy of the template, and money.
    let billing_client = pb::billing_client::BillingClient::new(aerostic_kit::grpc::channel(
        &format!("http://{billing}"),
    )?);
    let seal = IdentitySeal::new(JWT_SECRET.as_bytes());
    let root = Identity {
        tenant_id: uuid::Uuid::now_v7().to_string().parse()?,
        user_id: None,
        role: Role::SuperAdmin,
        api_key_id: None,
        scopes: vec![],
    };
    let mut senders = Vec::new();
    for w in 0..WORKSPACES {
        let email = format!("bench{w}.{run}@example.com");
        let password = "correct horse battery";
        let registered: Value = http
            .post(format!("{base}/v1/auth/register"))
            .header("host", APP)
            .json(
                &json!({"tenant_name": format!("Bench {w}"), "email": email, "password": password}),
            )
            .send()
            .await?
            .json()
            .await?;
        let tenant = registered["tenant"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let session: Value = http
            .post(format!("{base}/v1/auth/login"))
            .header("host", APP)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?
            .json()
            .await?;
        let token = session["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        anyhow::ensure!(
            !tenant.is_empty() && !token.is_empty(),
            "sign-up failed: {registered}"
        );
        let mut numbers = Vec::new();
        for _ in 0..NUMBERS_EACH {
            let added: Value = http
                .post(format!("{meta}/_sandbox/numbers"))
                .bearer_auth(CONTROL)
                .json(&json!({}))
                .send()
                .await?
                .json()
                .await?;
            let id = added["id"].as_str().unwrap_or_default().to_string();
            db.execute_unprepared(&format!(
                "INSERT INTO whatsapp_accounts (id, tenant_id, waba_id, phone_number_id, display_phone_number, verified_name, status, connected_at, created_at)
                 VALUES ('{}', '{tenant}', '{}', '{id}', '{}', 'Bench', 'connected', now(), now())",
                uuid::Uuid::now_v7(),
                seed.waba_id,
                added["display_phone_number"].as_str().unwrap_or_default()
            ))
            .await?;
            numbers.push(id);
        }
        db.execute_unprepared(&format!(
            "UPDATE tenants SET plan_code = 'scale' WHERE id = '{tenant}';
             INSERT INTO templates (id, tenant_id, waba_id, meta_id, name, language, category, status, components, rejected_reason, updated_at)
             VALUES ('{}', '{tenant}', '{}', '{template_id}', 'restock', 'en_US', 'UTILITY', 'APPROVED', '[{{\"type\":\"BODY\",\"text\":\"Back in stock\"}}]', '', now())",
            uuid::Uuid::now_v7(),
            seed.waba_id
        ))
        .await?;
        let mut top_up = tonic::Request::new(pb::TopUpRequest {
            tenant_id: tenant.clone(),
            amount: Some(pb::Money {
                currency: "USD".into(),
                amount_minor: 100_000_000,
            }),
            reference: format!("bench-{run}-{w}"),
            note: "bench".into(),
        });
        seal.attach(&mut top_up, &root);
        billing_client.clone().top_up(top_up).await?;
        senders.push(Sender { token, numbers });
    }
    let senders = Arc::new(senders);
    let counter = Arc::new(AtomicU64::new(0));

    // 0. Tables as a running platform has them: some rows, and statistics
    // (autovacuum's ANALYZE), so that PostgreSQL plans the prepared
    // statements for real tables instead of the empty ones of a fresh database.
    let (_, primed_bad) = flat_out(&http, &base, &senders, &counter, clients, 3).await?;
    drained(&db, (counter.load(Ordering::Relaxed) - primed_bad) as i64).await?;
    db.execute_unprepared("ANALYZE").await?;
    // A checkpoint now, so that every run starts its measured phases at the
    // same point of PostgreSQL's checkpoint cycle (full-page writes follow
    // each one). It needs a superuser or pg_checkpoint; without, it is skipped.
    if let Err(e) = db.execute_unprepared("CHECKPOINT").await {
        eprintln!("no CHECKPOINT before measuring: {e}");
    }
    let mut failed = primed_bad;

    // 1. API latency at a fixed rate.
    let services: Vec<(&'static str, Option<u32>)> =
        SERVICES.iter().map(|s| (*s, topology.pid(s))).collect();
    let inside_before = scrape(&http, &scraped).await;
    let paced_ticks0 = process_ticks(&services);
    let paced_cpu0 = cpu();
    let paced_first = counter.load(Ordering::Relaxed);
    let paced_wal0 = wal(&db).await?;
    let statements = Statements::start(&db).await;
    let warm_up = Duration::from_secs(2);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut pending = Vec::new();
    let started = Instant::now();
    while started.elapsed() < warm_up + Duration::from_secs(seconds) {
        tick.tick().await;
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let timed = started.elapsed() >= warm_up;
        let (http, base, senders) = (http.clone(), base.clone(), senders.clone());
        pending.push(tokio::spawn(async move {
            let sender = &senders[n as usize % WORKSPACES];
            (
                timed,
                send(&http, &base, sender, n / WORKSPACES as u64).await,
            )
        }));
    }
    let mut paced = Vec::new();
    for p in pending {
        let (timed, (ok, took)) = p.await?;
        failed += u64::from(!ok);
        if timed {
            paced.push(took);
        }
    }
    paced.sort();
    let paced_cpu1 = cpu();
    let paced_ticks1 = process_ticks(&services);
    let paced_wal1 = wal(&db).await?;
    let statements = match statements {
        Some(counting) => Some(counting.read(&db).await?),
        None => None,
    };
    let inside = scrape(&http, &scraped).await;
    let paced_total = counter.load(Ordering::Relaxed);
    drained(&db, (paced_total - failed) as i64).await?;

    // 2. Flat out: the API's rate, and end to end until every wamid is back.
    let first = counter.load(Ordering::Relaxed);
    let ticks0 = process_ticks(&services);
    let wal0 = wal(&db).await?;
    let counting = KernelCounts::start();
    let cpu0 = cpu();
    let started = Instant::now();
    let (mut flat, bad) = flat_out(&http, &base, &senders, &counter, clients, seconds).await?;
    failed += bad;
    let api_for = started.elapsed().as_secs_f64();
    flat.sort();
    let total = counter.load(Ordering::Relaxed);
    let burst = total - first;
    let done = drained(&db, (total - failed) as i64).await?;
    let end_to_end = (done - started).as_secs_f64();
    let wal1 = wal(&db).await?;
    let kernel = counting.map(KernelCounts::finish);
    let cpu1 = cpu();
    let ticks1 = process_ticks(&services);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let cpu_seconds = busy_share(cpu0, cpu1) * end_to_end * cores;

    let busiest = scalar(
        &db,
        "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM sends WHERE state = 'accepted'
           GROUP BY phone_number_id, date_trunc('second', updated_at)) per_second",
    )
    .await?;
    let throttled = scalar(
        &db,
        "SELECT COUNT(*) FROM sends WHERE last_error_code = 130429",
    )
    .await?;
    let retried = scalar(&db, "SELECT COUNT(*) FROM sends WHERE attempts > 1").await?;
    let stored = accepted(&db).await?;

    println!(
        "outbound, production topology (gateway, tenancy, billing, dispatcher processes; sandbox as Meta; PostgreSQL, RabbitMQ, Redis)"
    );
    println!(
        "  {WORKSPACES} workspaces x {NUMBERS_EACH} numbers, a paid utility template per message, {seconds} s phases"
    );
    println!(
        "  paced {rate} sends/s: API p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&paced, 0.5),
        percentile(&paced, 0.99),
        percentile(&paced, 1.0)
    );
    // The phase's own cost: at a rate below the flat-out one fewer sends
    // arrive together, so less is shared and each costs more.
    let paced_sent = paced_total - paced_first;
    println!(
        "    the machine's CPU busy {:.0} % over the phase; {:.2} PostgreSQL transactions per message; CPU ms per message by process: {}",
        busy_share(paced_cpu0, paced_cpu1) * 100.0,
        (paced_wal1[3] - paced_wal0[3]) as f64 / paced_sent.max(1) as f64,
        per_message(&paced_ticks0, &paced_ticks1, paced_sent)
    );
    print_inside(&inside_before, &inside);
    if let Some(counted) = &statements {
        Statements::print(counted, paced_sent);
    }
    let per_request = match batch_size() {
        1 => String::new(),
        n => format!(" in batches of {n} (p99 per batch)"),
    };
    println!(
        "  {clients} clients flat out{per_request}: {burst} sends accepted by the API in {api_for:.1} s ({:.0}/s, p99 {:.2} ms); every wamid recorded after {end_to_end:.1} s ({:.0} msg/s end to end)",
        burst as f64 / api_for,
        percentile(&flat, 0.99),
        burst as f64 / end_to_end
    );
    println!(
        "  machine CPU (all processes, databases and sandbox): {:.2} CPU-s per 1,000 messages",
        cpu_seconds / (burst as f64 / 1000.0)
    );
    println!(
        "  CPU ms per message by process: {}",
        per_message(&ticks0, &ticks1, burst)
    );
    println!(
        "  busiest number-second: {busiest} sends (limit 80); 130429 from Meta: {throttled}; retried: {retried}"
    );
    println!("  posted {total}, refused {failed}, accepted at Meta {stored}");
    print_writes(&db, total).await?;
    if let Some(Ok(counts)) = kernel {
        let per: Vec<String> = counts
            .iter()
            .map(|(event, n)| format!("{:.1} {event}", n / burst.max(1) as f64))
            .collect();
        println!(
            "  flat out, per message (the whole machine): {}",
            per.join(", ")
        );
    }
    let per = |i: usize| (wal1[i] - wal0[i]) as f64 / burst.max(1) as f64;
    println!(
        "  flat out, per message: {:.1} WAL records, {:.2} full-page images, {:.0} WAL bytes, {:.2} transactions, reads included (the whole server)",
        per(0),
        per(1),
        per(2),
        per(3)
    );
    anyhow::ensure!(
        failed == 0 && stored == total as i64 && throttled == 0,
        "lost, refused or throttled sends (logs in {})",
        topology.logs().display()
    );
    Ok(())
}

/// `perf stat` over the whole machine while it runs, when `BENCH_PERF=on`:
/// context switches and system calls, counts that do not depend on how fast
/// the host is at the moment (its speed varies by a fifth within the hour).
struct KernelCounts(std::process::Child);

impl KernelCounts {
    fn start() -> Option<Self> {
        if std::env::var("BENCH_PERF").as_deref() != Ok("on") {
            return None;
        }
        std::process::Command::new("perf")
            .args(["stat", "-x", ",", "-a", "-e"])
            .arg("context-switches,raw_syscalls:sys_enter")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map(Self)
            .inspect_err(|e| eprintln!("perf stat did not start: {e}"))
            .ok()
    }

    /// Stops counting; each event's count.
    fn finish(self) -> anyhow::Result<Vec<(String, f64)>> {
        let child = self.0;
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()?;
        let out = child.wait_with_output()?;
        // CSV lines: value, unit, event, ...
        Ok(String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let n: f64 = fields.first()?.parse().ok()?;
                Some((fields.get(2)?.to_string(), n))
            })
            .collect())
    }
}

/// The server's WAL records, full-page images and bytes, and commits, so far.
async fn wal(db: &sea_orm::DatabaseConnection) -> anyhow::Result<[i64; 4]> {
    use sea_orm::{DbBackend, Statement};
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT w.wal_records::bigint, w.wal_fpi::bigint, w.wal_bytes::bigint,
                    (SELECT sum(xact_commit)::bigint FROM pg_stat_database)
             FROM pg_stat_wal w",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("pg_stat_wal is empty"))?;
    Ok([
        row.try_get_by_index(0)?,
        row.try_get_by_index(1)?,
        row.try_get_by_index(2)?,
        row.try_get_by_index(3)?,
    ])
}

/// What PostgreSQL wrote per message posted, table by table, over the whole
/// run: rows inserted, updated (of them HOT: no index touched) and deleted,
/// and the index entries that made: every whole index of a table takes one
/// for an insert or a non-HOT update; a partial index only for rows its
/// predicate holds, so its share is shown apart as an upper bound.
async fn print_writes(db: &sea_orm::DatabaseConnection, messages: u64) -> anyhow::Result<()> {
    use sea_orm::{DbBackend, Statement};
    // Backends report their counters at most once a second.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT t.relname::text, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd, t.n_tup_del,
                    (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid
                       AND i.indpred IS NULL),
                    (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid
                       AND i.indpred IS NOT NULL)
             FROM pg_stat_user_tables t
             WHERE t.n_tup_ins + t.n_tup_upd + t.n_tup_del > 0
             ORDER BY t.n_tup_ins + t.n_tup_upd DESC",
        ))
        .await?;
    let per = |n: i64| n as f64 / messages.max(1) as f64;
    let (mut entries, mut partial_entries) = (0.0, 0.0);
    println!(
        "  PostgreSQL rows written per message (inserted, updated / HOT, deleted; index entries):"
    );
    for row in rows {
        let table: String = row.try_get_by_index(0)?;
        let [ins, upd, hot, del, whole, partial]: [i64; 6] = [
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
            row.try_get_by_index(3)?,
            row.try_get_by_index(4)?,
            row.try_get_by_index(5)?,
            row.try_get_by_index(6)?,
        ];
        let made = per((ins + upd - hot) * whole);
        let at_most = per((ins + upd - hot) * partial);
        if per(ins + upd + del) < 0.01 {
            continue;
        }
        entries += made;
        partial_entries += at_most;
        println!(
            "    {table}: {:.2}, {:.2} / {:.2}, {:.2}; {made:.1} in {whole} whole index(es), at most {at_most:.1} in {partial} partial",
            per(ins),
            per(upd),
            per(hot),
            per(del)
        );
    }
    println!(
        "    index entries per message: {entries:.1} in whole indexes, at most {partial_entries:.1} more in partial ones"
    );
    Ok(())
}

/// Each scraped process's `/metrics` text, by process name (empty if unreachable).
async fn scrape(
    http: &reqwest::Client,
    targets: &[(&'static str, String)],
) -> BTreeMap<&'static str, String> {
    let mut texts = BTreeMap::new();
    for (name, url) in targets {
        let text = match http.get(url).header("host", APP).send().await {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        texts.insert(*name, text);
    }
    texts
}

/// Where the paced phase's API time went: the gateway's route, the
/// dispatcher's RPC and its stages, billing's reservation (mean, p50, p99
/// from each process's histogram buckets, the phase alone).
fn print_inside(before: &BTreeMap<&str, String>, after: &BTreeMap<&str, String>) {
    let wanted: [(&str, &str, &str, &str); 7] = [
        (
            "gateway",
            "aerostic_http_request_seconds",
            r#"route="/v1/messages/send""#,
            "gateway, whole request",
        ),
        (
            "dispatcher",
            "aerostic_grpc_request_seconds",
            r#"method="/aerostic.v1.Dispatcher/SendMessage""#,
            "dispatcher SendMessage",
        ),
        (
            "dispatcher",
            "aerostic_send_stage_seconds",
            r#"stage="target""#,
            "  stage: number and contact",
        ),
        (
            "dispatcher",
            "aerostic_send_stage_seconds",
            r#"stage="checks""#,
            "  stage: template and rules",
        ),
        (
            "dispatcher",
            "aerostic_send_stage_seconds",
            r#"stage="reserve""#,
            "  stage: billing's reservation (calls coalesced per caller)",
        ),
        (
            "dispatcher",
            "aerostic_send_stage_seconds",
            r#"stage="record""#,
            "  stage: message and send recorded",
        ),
        (
            "billing",
            "aerostic_grpc_request_seconds",
            r#"method="/aerostic.v1.Billing/ReserveMany""#,
            "billing ReserveMany, inside (a call: one or more sends)",
        ),
    ];
    println!("  inside the paced phase (mean / p50 / p99 ms, from histogram buckets):");
    for (process, metric, labels, what) in wanted {
        let parse = |texts: &BTreeMap<&str, String>| {
            histograms::parse(texts.get(process).map_or("", |t| t.as_str()), metric)
        };
        let (earlier, later) = (parse(before), parse(after));
        let Some(series) = later.get(labels) else {
            println!("    {what}: not exported");
            continue;
        };
        let phase = series.since(earlier.get(labels));
        println!(
            "    {what}: {:.2} / {:.2} / {:.2} ({} calls)",
            phase.mean_ms(),
            phase.quantile_ms(0.5),
            phase.quantile_ms(0.99),
            phase.count()
        );
    }
}
