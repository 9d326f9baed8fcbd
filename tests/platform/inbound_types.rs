//! Every inbound message type of META_API.md §2, in one webhook from one
//! customer, comes out of the inbox API as Meta shaped it: its type, its
//! object, `context` and `referral`, our media id for media, and the text a
//! reader (or the AI agent) needs in `message.received`.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use aerostic_dispatcher::events::MessageReceived;
use common::TestApp;
use common::meta::{
    connect_number, eventually, messages_payload, newest_conversation_messages, post_webhook, sign,
};
use serde_json::{Value, json};

const CUSTOMER: &str = "5511988887777";

fn message(n: u32, kind: &str, object: Value) -> Value {
    let mut m = json!({"from": CUSTOMER, "id": format!("wamid.type{n:02}"), "timestamp": (1760000000 + n).to_string(), "type": kind});
    m[kind] = object;
    m
}

fn media(mime: &str) -> Value {
    json!({"id": "9990001", "mime_type": mime, "sha256": "q1w2e3r4t5y6u7i8o9p0q1w2e3r4t5y6u7i8o9p0a1s=", "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=9990001"})
}

/// Each §2 type: (kind, its object, the text `message.received` carries).
fn every_type() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        (
            "text",
            json!({"body": "Oi, ainda tem estoque?"}),
            Some("Oi, ainda tem estoque?"),
        ),
        (
            "image",
            {
                let mut m = media("image/jpeg");
                m["caption"] = json!("a foto");
                m
            },
            Some("a foto"),
        ),
        ("video", media("video/mp4"), None),
        (
            "audio",
            {
                let mut m = media("audio/ogg; codecs=opus");
                m["voice"] = json!(true);
                m
            },
            None,
        ),
        (
            "document",
            {
                let mut m = media("application/pdf");
                m["filename"] = json!("nota.pdf");
                m
            },
            None,
        ),
        (
            "sticker",
            {
                let mut m = media("image/webp");
                m["animated"] = json!(false);
                m
            },
            None,
        ),
        (
            "location",
            json!({"latitude": -23.5505, "longitude": -46.6333, "name": "Loja Centro", "address": "Praça da Sé, São Paulo"}),
            None,
        ),
        (
            "contacts",
            json!([{"name": {"formatted_name": "Bruno Lima", "first_name": "Bruno"}, "phones": [{"phone": "+55 11 91111-0002", "wa_id": "5511911110002", "type": "CELL"}], "emails": [{"email": "bruno@example.com", "type": "WORK"}]}]),
            None,
        ),
        (
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Sim, quero"}}),
            Some("Sim, quero"),
        ),
        (
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": "m", "title": "Tamanho M", "description": "Camiseta"}}),
            Some("Tamanho M"),
        ),
        (
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"cep\":\"01001-000\"}"}}),
            None,
        ),
        (
            "button",
            json!({"payload": "PROMO_STOP", "text": "Parar promoções"}),
            Some("Parar promoções"),
        ),
        (
            "reaction",
            json!({"message_id": "wamid.out1", "emoji": "❤️"}),
            None,
        ),
        ("reaction", json!({"message_id": "wamid.out1"}), None),
        (
            "order",
            json!({"catalog_id": "1234", "text": "para amanhã", "product_items": [{"product_retailer_id": "sku-9", "quantity": 2, "item_price": 49.9, "currency": "BRL"}]}),
            Some("para amanhã"),
        ),
        ("unsupported", json!({"type": "poll"}), None),
    ]
}

async fn every_inbound_type_is_kept_as_meta_shaped_it(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let (mut received, _subscription) = common::events::listen::<MessageReceived>(
        &app,
        aerostic_dispatcher::events::MESSAGE_RECEIVED,
    )
    .await;
    let types = every_type();
    let mut messages: Vec<Value> = types
        .iter()
        .zip(1..)
        .map(|((kind, object, _), n)| message(n, kind, object.clone()))
        .collect();
    // A reply to one of ours, and a customer arriving from an ad.
    messages[0]["context"] = json!({"from": "15550001111", "id": "wamid.out1"});
    messages[0]["referral"] = json!({"source_url": "https://fb.me/ad", "source_id": "120", "source_type": "ad", "headline": "Promoção", "ctwa_clid": "ARAkLk"});
    messages.last_mut().unwrap()["errors"] = json!([{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}]);
    let body = messages_payload(&phone_id, messages.clone(), vec![]);
    let (code, answer) = post_webhook(&app, &body, Some(sign(&body))).await;
    assert_eq!(code, 200, "{answer}");
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;

    // Through the inbox API, as the team reads it.
    let listed = newest_conversation_messages(&app, &admin).await;
    let by_wamid: BTreeMap<String, Value> = listed
        .iter()
        .map(|m| (m["wamid"].as_str().unwrap().to_string(), m.clone()))
        .collect();
    assert_eq!(
        by_wamid.len(),
        types.len(),
        "every message kept, none twice"
    );
    for (sent, (kind, object, _)) in messages.iter().zip(&types) {
        let kept = &by_wamid[sent["id"].as_str().unwrap()];
        assert_eq!(kept["type"], *kind, "{kept}");
        assert_eq!(kept["direction"], "inbound");
        assert_eq!(&kept["content"][kind], object, "the {kind} object as sent");
        let is_media = ["image", "video", "audio", "document", "sticker"].contains(kind);
        assert_eq!(kept["media_id"].is_string(), is_media, "{kind}: {kept}");
    }
    let reply = &by_wamid["wamid.type01"];
    assert_eq!(reply["context_wamid"], "wamid.out1");
    assert_eq!(reply["content"]["referral"]["ctwa_clid"], "ARAkLk");
    assert_eq!(
        by_wamid["wamid.type16"]["content"]["errors"][0]["code"],
        131051
    );

    // Each raises message.received once, with the text a reader needs.
    let mut texts = BTreeMap::new();
    while texts.len() < types.len() {
        let event = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("every message.received within 30 s (a hang guard)")
            .unwrap();
        assert!(
            texts.insert(event.wamid.clone(), event.text).is_none(),
            "{} twice",
            event.wamid
        );
    }
    for (n, (kind, _, text)) in types.iter().enumerate() {
        let wamid = format!("wamid.type{:02}", n + 1);
        assert_eq!(texts[&wamid].as_deref(), *text, "{kind} ({wamid})");
    }
}

crate::on_every_backend!(every_inbound_type_is_kept_as_meta_shaped_it);
