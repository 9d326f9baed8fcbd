//! `aerostic dev` boots from a clean data dir and serves; a service without
//! its settings says which one is missing.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

#[tokio::test]
async fn aerostic_dev_boots_from_a_clean_data_dir_and_serves_register_login_and_readyz() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .args([
            "dev",
            "--gateway-addr",
            "127.0.0.1:0",
            "--grpc-base-port",
            "0",
            "--sandbox-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env_remove("AEROSTIC_CONFIG_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // Keep draining stdout for the child's whole life.
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let line = line.trim();
            // "gateway     http://…", "sandbox     http://…  (…)", "phone_number_id … control token …"
            let first = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let value = match first.as_str() {
                "gateway" | "sandbox" => line.split_whitespace().nth(1),
                "phone_number_id" => line.split_whitespace().last(),
                _ => None,
            };
            if let Some(value) = value {
                let _ = tx.send((first, value.to_string()));
            }
        }
    });
    let mut banner = std::collections::HashMap::new();
    while banner.len() < 3 {
        let (key, value) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the banner names gateway and sandbox");
        banner.insert(key, value);
    }
    let base = banner["gateway"].clone();
    let http = reqwest::Client::new();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    let register = http
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"tenant_name": "Dev Co", "email": "dev@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status().as_u16(), 201);
    let login = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "dev@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);

    // The sandbox runs too: a customer writes, and a reply through the Graph path is accepted.
    let (sandbox, control) = (&banner["sandbox"], &banner["phone_number_id"]);
    let inbound = http
        .post(format!(
            "{sandbox}/_sandbox/numbers/420000000000002/inbound"
        ))
        .bearer_auth(control)
        .json(&json!({"from": "5511988887777", "text": "Oi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(inbound.status().as_u16(), 201);
    let reply = http
        .post(format!("{sandbox}/v21.0/420000000000002/messages"))
        .bearer_auth("sandbox-access-token")
        .json(&json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text", "text": {"body": "Olá"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(dir.path().join("data/aerostic.db").exists());
    assert!(dir.path().join("data/secrets.env").exists());
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn a_service_without_a_database_url_exits_non_zero_naming_the_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .arg("tenancy")
        .env_remove("AEROSTIC_DATABASE_URL")
        .env_remove("AEROSTIC_CONFIG_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("aerostic: missing setting AEROSTIC_DATABASE_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_service_process_configured_from_the_environment_serves_grpc_health_and_metrics() {
    let backends = common::real_backends().await;
    aerostic_launcher::migrate(&backends.database_url)
        .await
        .unwrap();
    // Port 0 for both, read back from the "serving" log line: a port picked
    // here and freed again could be taken by anyone before the child binds it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .arg("tenancy")
        .env_remove("AEROSTIC_CONFIG_FILE")
        .env("AEROSTIC_DATABASE_URL", &backends.database_url)
        .env("AEROSTIC_BROKER_URL", &backends.broker_url)
        .env("AEROSTIC_CACHE_URL", &backends.cache_url)
        .env("AEROSTIC_NAMESPACE", &backends.namespace)
        .env("AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS", "60")
        .env(
            "AEROSTIC_ENCRYPTION_KEYS",
            aerostic_kit::crypto::KeyRing::generate_spec("p1"),
        )
        .env("AEROSTIC_JWT_SECRET", "s".repeat(40))
        .env("AEROSTIC_TENANCY_GRPC_ADDR", "127.0.0.1:0")
        .env("AEROSTIC_TENANCY_METRICS_ADDR", "127.0.0.1:0")
        .env("AEROSTIC_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        // Its log comes here, not to the run's log file (scripts/test.sh).
        .env_remove("AEROSTIC_LOG_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (serving, seen) = serving_line(child.stderr.take().unwrap());
    let serving =
        tokio::task::spawn_blocking(move || serving.recv_timeout(Duration::from_secs(120)))
            .await
            .unwrap();
    let Ok(serving) = serving else {
        child.kill().unwrap();
        let status = child.wait();
        let seen = seen.lock().unwrap();
        panic!("tenancy never logged that it serves ({status:?}); it wrote:\n{seen}");
    };
    let grpc = format!("http://{}", serving["grpc"].as_str().unwrap());
    // Bound is not yet serving: the server starts after the consumers.
    let mut healthy = Err(String::new());
    for _ in 0..600 {
        healthy = aerostic_kit::grpc::check_health(&grpc).await;
        if healthy.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics_reply = reqwest::get(format!(
        "http://{}/metrics",
        serving["metrics"].as_str().unwrap()
    ))
    .await;
    child.kill().unwrap();
    let _ = child.wait();
    healthy.expect("tenancy reports SERVING");
    let text = metrics_reply.unwrap().text().await.unwrap();
    assert!(text.contains("aerostic_grpc_requests_total"), "{text}");
}

/// The first JSON log line whose message is "serving"; until then, what
/// else the process wrote (so a failure says why).
type Serving = (
    std::sync::mpsc::Receiver<serde_json::Value>,
    std::sync::Arc<std::sync::Mutex<String>>,
);

fn serving_line(stderr: std::process::ChildStderr) -> Serving {
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let written = seen.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        // Keep draining after the answer so the child never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<serde_json::Value>(&line).ok();
            match parsed.filter(|v| v["message"] == "serving") {
                Some(serving) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(serving);
                    }
                }
                None if tx.is_some() => {
                    let mut written = written.lock().unwrap();
                    written.push_str(&line);
                    written.push('\n');
                }
                None => {}
            }
        }
    });
    (rx, seen)
}

#[test]
fn aerostic_migrate_prepares_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .arg("migrate")
        .env_remove("AEROSTIC_CONFIG_FILE")
        .env("AEROSTIC_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "migrations applied"
    );
}

#[tokio::test]
async fn aerostic_replay_moves_dead_letters_back_into_their_queue() {
    use aerostic_kit::broker::{Broker, Envelope, QueueSpec, RabbitBroker, dead_letter_queue};
    let namespace = format!("replay{}", uuid::Uuid::new_v4().simple());
    let broker = RabbitBroker::connect(&common::amqp_url(), &namespace)
        .await
        .unwrap()
        .with_idle_queue_expiry(Some(Duration::from_secs(60)));
    let spec = QueueSpec::new("work", &["work.item"]);
    broker.declare(&spec).await.unwrap();
    for n in 0..3u8 {
        let env = Envelope::new("work.item", vec![n]);
        broker
            .send_to_queue(&dead_letter_queue("work"), env)
            .await
            .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .args(["replay", "work"])
        .env_remove("AEROSTIC_CONFIG_FILE")
        .env("AEROSTIC_BROKER_URL", common::amqp_url())
        .env("AEROSTIC_NAMESPACE", &namespace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "replayed 3 dead letters into work"
    );
    assert_eq!(broker.queue_len("work").await.unwrap(), 3);
    assert_eq!(
        broker.queue_len(&dead_letter_queue("work")).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn aerostic_sandbox_serves_the_graph_api_on_its_own() {
    let addr = aerostic_launcher::topology::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .args([
            "sandbox",
            "--control-token",
            "ctl",
            "--review-secs",
            "0.1",
            "--addr",
        ])
        .arg(addr.to_string())
        .env_remove("AEROSTIC_CONFIG_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"});
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(resp) = http
            .post(format!("http://{addr}/v21.0/420000000000002/messages"))
            .bearer_auth("sandbox-access-token")
            .json(&read)
            .send()
            .await
        {
            answer = Some(resp.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(answer, Some(200));
}

#[test]
fn aerostic_sandbox_refuses_a_negative_duration() {
    let out = Command::new(env!("CARGO_BIN_EXE_aerostic"))
        .args([
            "sandbox",
            "--control-token",
            "ctl",
            "--addr",
            "127.0.0.1:0",
            "--review-secs=-1",
        ])
        .env_remove("AEROSTIC_CONFIG_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--review-secs"));
}
