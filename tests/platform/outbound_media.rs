//! Our own media: uploaded to our store with `POST /v1/media`, sent by our
//! id (uploaded to Meta by the sender just before sending), refused when
//! Meta would refuse the file, and another workspace's media id is 404.

use crate::common;
use crate::outbound_send::{open_window, send};

use common::TestApp;
use common::meta::eventually;
use reqwest::Method;
use serde_json::{Value, json};

/// Uploads `bytes` as `mime` for `token`: status and body.
async fn upload(app: &TestApp, token: &str, mime: &str, bytes: Vec<u8>) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/v1/media?filename=receipt.png", app.base))
        .header(reqwest::header::HOST, common::APP_HOST)
        .header(reqwest::header::CONTENT_TYPE, mime)
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn an_uploaded_image_is_sent_by_our_id_and_meta_gets_the_file(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 2048]].concat();
    let (status, kept) = upload(&app, &admin, "image/png", png.clone()).await;
    assert_eq!(status, 201, "{kept}");
    let media_id = kept["id"].as_str().unwrap().to_string();
    // Ours to read back, byte for byte.
    let back = app
        .http
        .get(format!("{}/v1/media/{media_id}", app.base))
        .header(reqwest::header::HOST, common::APP_HOST)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(back.bytes().await.unwrap().to_vec(), png);

    let (status, sent, _) = send(
        &app,
        &admin,
        &json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "image", "image": {"media_id": media_id, "caption": "seu recibo"}}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let id = sent["message"]["id"].as_str().unwrap();
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{id}' AND state = 'accepted'"),
        1,
    )
    .await;
    let at_meta = app
        .sandbox_control(
            Method::GET,
            &format!("/_sandbox/numbers/{phone_id}/sent"),
            None,
        )
        .await;
    let image = at_meta["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "image")
        .unwrap_or_else(|| panic!("no image at Meta: {at_meta}"))
        .clone();
    let meta_id = image["image"]["id"]
        .as_str()
        .or_else(|| image["body"]["image"]["id"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(!meta_id.is_empty(), "Meta got a media id: {image}");
}

async fn a_file_meta_would_refuse_and_another_workspaces_media_are_refused(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let (status, refused) = upload(&app, &admin, "image/gif", vec![1, 2, 3]).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["details"]["content_type"].is_string());
    let (status, refused) = upload(&app, &admin, "image/png", vec![0; 6 * 1024 * 1024]).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["details"]["body"]
            .as_str()
            .unwrap()
            .contains("5120 KB")
    );

    let other = app.new_admin().await;
    let (status, theirs) = upload(&app, &other, "image/png", vec![9; 100]).await;
    assert_eq!(status, 201, "{theirs}");
    let (status, refused, _) = send(
        &app,
        &admin,
        &json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "image", "image": {"media_id": theirs["id"]}}),
        None,
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(refused["error"]["code"], "media_not_found");
}

crate::on_every_backend!(
    an_uploaded_image_is_sent_by_our_id_and_meta_gets_the_file,
    a_file_meta_would_refuse_and_another_workspaces_media_are_refused,
);
