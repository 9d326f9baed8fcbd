//! Customers' media: fetched from Meta with the number's token, checked
//! against Meta's SHA-256, kept by us, and served to the workspace only.

use crate::common;

use base64::Engine;
use common::meta::{
    connect_number, eventually, messages_payload, newest_conversation_messages, post_webhook, sign,
};
use common::{APP_HOST, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

/// Uploads `bytes` to the sandbox as the business would; Meta's media id.
async fn upload(app: &TestApp, phone_id: &str, bytes: &[u8], mime: &str) -> String {
    let (sandbox, _) = app.sandbox.as_ref().unwrap();
    let boundary = "aerostic-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\nContent-Type: {mime}\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let answer: Value = app
        .http
        .post(format!("{sandbox}/v21.0/{phone_id}/media"))
        .bearer_auth("sandbox-access-token")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string()
}

async fn an_inbound_image_is_kept_by_us_and_served_to_its_workspace_only(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let png: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let media_id = upload(&app, &phone_id, &png, "image/png").await;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&png));
    let image = json!({"from": "5511988887777", "id": "wamid.photo", "timestamp": "1760000000", "type": "image",
        "image": {"id": media_id, "mime_type": "image/png", "sha256": sha, "caption": "a foto"}});
    let lost = json!({"from": "5511988887777", "id": "wamid.lost", "timestamp": "1760000001", "type": "document",
        "document": {"id": "1780000000000999", "mime_type": "application/pdf", "sha256": "x", "filename": "nota.pdf"}});
    let body = messages_payload(&phone_id, vec![image, lost], vec![]);
    let (status, _) = post_webhook(&app, &body, Some(sign(&body))).await;
    assert_eq!(status, 200);
    eventually(
        &app,
        "SELECT COUNT(*) FROM media WHERE status = 'stored'",
        1,
    )
    .await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM media WHERE status = 'failed'",
        1,
    )
    .await;

    let messages = newest_conversation_messages(&app, &admin).await;
    let by_wamid = |wamid: &str| {
        messages.iter().find(|m| m["wamid"] == wamid).unwrap()["media_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ours, failed) = (by_wamid("wamid.photo"), by_wamid("wamid.lost"));

    let file = app
        .http
        .get(format!("{}/v1/media/{ours}", app.base))
        .header("host", APP_HOST)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(
        file.bytes().await.unwrap().to_vec(),
        png,
        "the same bytes Meta held"
    );

    let unavailable = app
        .call_on(
            APP_HOST,
            Method::GET,
            &format!("/v1/media/{failed}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (
            unavailable.status,
            unavailable.body["error"]["code"].as_str()
        ),
        (422, Some("media_unavailable")),
        "{}",
        unavailable.body
    );
    let stranger = app.new_admin().await;
    let theirs = app
        .call_on(
            APP_HOST,
            Method::GET,
            &format!("/v1/media/{ours}"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(
        (theirs.status, theirs.body["error"]["code"].as_str()),
        (404, Some("media_not_found"))
    );
}

crate::on_every_backend!(an_inbound_image_is_kept_by_us_and_served_to_its_workspace_only,);

#[tokio::test]
async fn media_kept_in_the_database_is_served_the_same() {
    // What the Helm chart runs: several dispatcher replicas, one database.
    let control = format!("ctl{}", uuid::Uuid::new_v4().simple());
    let app = common::spawn_keeping_media(
        Some(control),
        Default::default(),
        aerostic_kit::config::MediaStore::Database,
    )
    .await;
    let url = app.backends.database_url.clone();
    an_inbound_image_is_kept_by_us_and_served_to_its_workspace_only(app).await;
    let db = aerostic_kit::db::connect(&url).await.unwrap();
    let kept = aerostic_kit::db::testing::scalar(&db, "SELECT COUNT(*) FROM media_objects")
        .await
        .unwrap();
    assert_eq!(kept, 1, "the image's bytes are in the database");
}
