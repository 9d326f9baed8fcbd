//! Media: upload limits, 5-minute URLs that need the token, download, delete.

use crate::common;

use aerostic_sandbox::Seed;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

async fn spawn() -> (String, Seed, reqwest::Client) {
    let (base, seed) = common::spawn_sandbox_with("ctl", |s| s).await;
    (base, seed, reqwest::Client::new())
}

async fn upload(
    http: &reqwest::Client,
    base: &str,
    seed: &Seed,
    bytes: Vec<u8>,
    mime: &str,
) -> (u16, Value) {
    let form = Form::new().text("messaging_product", "whatsapp").part(
        "file",
        Part::bytes(bytes).file_name("f").mime_str(mime).unwrap(),
    );
    let resp = http
        .post(format!("{base}/v21.0/{}/media", seed.phone_number_id))
        .bearer_auth(&seed.access_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn retrieve(http: &reqwest::Client, base: &str, seed: &Seed, id: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{base}/v21.0/{id}"))
        .bearer_auth(&seed.access_token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn an_upload_is_served_through_a_short_lived_url_that_needs_the_token() {
    let (base, seed, http) = spawn().await;
    let jpeg = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    let (status, body) = upload(&http, &base, &seed, jpeg.clone(), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    let (status, meta) = retrieve(&http, &base, &seed, &id).await;
    assert_eq!(status, 200);
    assert_eq!(meta["mime_type"], "image/jpeg");
    assert_eq!(meta["file_size"], jpeg.len().to_string());
    let url = meta["url"].as_str().unwrap().to_string();

    let without = http.get(&url).send().await.unwrap();
    assert_ne!(
        without.status().as_u16(),
        200,
        "the URL alone is not enough"
    );
    let with = http
        .get(&url)
        .bearer_auth(&seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status().as_u16(), 200);
    assert_eq!(with.headers()["content-type"], "image/jpeg");
    assert_eq!(with.bytes().await.unwrap().to_vec(), jpeg);

    http.post(format!("{base}/_sandbox/clock"))
        .bearer_auth("ctl")
        .json(&json!({"advance_secs": 301}))
        .send()
        .await
        .unwrap();
    let expired = http
        .get(&url)
        .bearer_auth(&seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status().as_u16(), 404);
    let (_, fresh) = retrieve(&http, &base, &seed, &id).await;
    let again = http
        .get(fresh["url"].as_str().unwrap())
        .bearer_auth(&seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200, "a re-queried URL works again");
}

#[tokio::test]
async fn wrong_types_and_oversized_files_are_refused_with_131053() {
    let (base, seed, http) = spawn().await;
    let (status, body) = upload(&http, &base, &seed, vec![0; 10], "application/x-msdownload").await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(131053))
    );
    let (status, body) = upload(
        &http,
        &base,
        &seed,
        vec![0; 5 * 1024 * 1024 + 1],
        "image/png",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(131053)),
        "{body}"
    );
    let (status, _) = upload(&http, &base, &seed, vec![0; 5 * 1024 * 1024], "image/png").await;
    assert_eq!(status, 200, "exactly 5 MB is fine");
}

#[tokio::test]
async fn deleted_media_is_gone() {
    let (base, seed, http) = spawn().await;
    let (_, body) = upload(&http, &base, &seed, b"hello".to_vec(), "text/plain").await;
    let id = body["id"].as_str().unwrap();
    let resp = http
        .delete(format!("{base}/v21.0/{id}"))
        .bearer_auth(&seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (status, body) = retrieve(&http, &base, &seed, id).await;
    assert_eq!(
        (status, body["error"]["error_subcode"].as_u64()),
        (400, Some(33))
    );
}
