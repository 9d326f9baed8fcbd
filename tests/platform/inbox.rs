//! The team inbox's read side over REST: conversations newest first with
//! their window, a conversation's messages, contacts found by name or
//! number, pages that join up, and nothing of another workspace.

use crate::common;

use common::meta::{connect_number, eventually, messages_payload, post_webhook, sign};
use common::{APP_HOST, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let answer = app
        .call_on(APP_HOST, Method::GET, path, Some(token), None)
        .await;
    (answer.status, answer.body)
}

fn from(number: &str, name: &str, wamid: &str, text: &str, at: u64) -> (Value, Value) {
    (
        json!({"profile": {"name": name}, "wa_id": number}),
        json!({"from": number, "id": wamid, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}),
    )
}

async fn an_agent_reads_conversations_messages_and_contacts_of_their_workspace_only(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let (_, agent) = app.member(&admin, "agent").await;
    let agent = agent["access_token"].as_str().unwrap().to_string();

    // Three customers; Bruno writes twice.
    let people = [
        from("5511911110001", "Ana Souza", "wamid.in1", "Oi", 1760000001),
        from(
            "5511911110002",
            "Bruno Lima",
            "wamid.in2",
            "Olá",
            1760000002,
        ),
        from(
            "5511911110003",
            "Carla Dias",
            "wamid.in3",
            "Bom dia",
            1760000003,
        ),
        from(
            "5511911110002",
            "Bruno Lima",
            "wamid.in4",
            "Ainda aí?",
            1760000004,
        ),
    ];
    for (contact, message) in people {
        let mut body: Value =
            serde_json::from_slice(&messages_payload(&phone_id, vec![message], vec![])).unwrap();
        body["entry"][0]["changes"][0]["value"]["contacts"] = json!([contact]);
        let bytes = common::meta::meta_bytes(&body);
        let (status, _) = post_webhook(&app, &bytes, Some(sign(&bytes))).await;
        assert_eq!(status, 200);
    }
    eventually(&app, "SELECT COUNT(*) FROM messages", 4).await;

    let (status, first) = get(&app, &agent, "/v1/conversations?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let names: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contact_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Bruno Lima", "Carla Dias"],
        "most recent activity first"
    );
    assert_eq!(first["data"][0]["unread"], 2);
    assert!(
        first["data"][0]["window_expires_at"].is_null(),
        "Meta's timestamp is old: the window is closed"
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get(
        &app,
        &agent,
        &format!("/v1/conversations?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["contact_name"], "Ana Souza");
    assert!(second["next_cursor"].is_null());

    let bruno = first["data"][0]["id"].as_str().unwrap().to_string();
    let (status, messages) =
        get(&app, &agent, &format!("/v1/conversations/{bruno}/messages")).await;
    assert_eq!(status, 200, "{messages}");
    let texts: Vec<&str> = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Ainda aí?", "Olá"], "newest first, accents intact");
    assert_eq!(messages["data"][0]["direction"], "inbound");
    assert_eq!(messages["data"][0]["status"], "received");

    let (_, found) = get(&app, &agent, "/v1/contacts?q=car").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["phone"], "+5511911110003");
    let (_, by_number) = get(&app, &agent, "/v1/contacts?q=%2B551191111000").await;
    assert_eq!(by_number["data"].as_array().unwrap().len(), 3);
    let carla = found["data"][0]["id"].as_str().unwrap().to_string();
    let (status, one) = get(&app, &agent, &format!("/v1/contacts/{carla}")).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("Carla Dias")));

    for (path, field) in [
        ("/v1/conversations?status=archived", "status"),
        ("/v1/conversations?limit=500", "limit"),
        ("/v1/conversations?cursor=garbage", "page.cursor"),
    ] {
        let (status, body) = get(&app, &agent, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["details"][field].is_string(),
            "{path}: {body}"
        );
    }

    // Another workspace sees none of it, even with the ids.
    let stranger = app.new_admin().await;
    let (_, theirs) = get(&app, &stranger, "/v1/conversations").await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    for path in [
        format!("/v1/conversations/{bruno}"),
        format!("/v1/conversations/{bruno}/messages"),
        format!("/v1/contacts/{carla}"),
    ] {
        let (status, body) = get(&app, &stranger, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

async fn a_workspace_sets_its_own_stop_words_and_they_replace_the_defaults(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let (status, defaults) = get(&app, &admin, "/v1/inbox/opt-out-keywords").await;
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(defaults["defaults"], true);
    assert!(
        defaults["keywords"]["en"]
            .as_array()
            .unwrap()
            .contains(&json!("stop"))
    );

    let put = |body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call_on(
                APP_HOST,
                Method::PUT,
                "/v1/inbox/opt-out-keywords",
                Some(&admin),
                Some(&body),
            )
            .await
        }
    };
    let refused = put(json!({"keywords": {"portuguese": ["chega"]}})).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body["error"]["details"]["by_language.portuguese"].is_string());
    let set = put(json!({"keywords": {"pt_BR": [" CHEGA ", "chega"]}})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        set.body,
        json!({"keywords": {"pt_BR": ["chega"]}, "defaults": false})
    );

    let (_, agent) = app.member(&admin, "agent").await;
    let agent = agent["access_token"].as_str().unwrap().to_string();
    let by_agent = app
        .call_on(
            APP_HOST,
            Method::PUT,
            "/v1/inbox/opt-out-keywords",
            Some(&agent),
            Some(&json!({"keywords": {}})),
        )
        .await;
    assert_eq!(by_agent.status, 403, "only admins change them");

    let messages = [
        from("5511911110001", "Ana", "wamid.kw1", "Chega", 1760000001),
        from("5511911110002", "Bruno", "wamid.kw2", "STOP", 1760000002),
    ];
    for (contact, message) in messages {
        let mut body: Value =
            serde_json::from_slice(&messages_payload(&phone_id, vec![message], vec![])).unwrap();
        body["entry"][0]["changes"][0]["value"]["contacts"] = json!([contact]);
        let bytes = common::meta::meta_bytes(&body);
        let (status, _) = post_webhook(&app, &bytes, Some(sign(&bytes))).await;
        assert_eq!(status, 200);
    }
    eventually(&app, "SELECT COUNT(*) FROM messages", 2).await;
    let (_, contacts) = get(&app, &admin, "/v1/contacts").await;
    let opted: Vec<(&str, bool)> = contacts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["opted_out"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(opted.contains(&("Ana", true)), "{opted:?}");
    assert!(
        opted.contains(&("Bruno", false)),
        "the defaults no longer apply: {opted:?}"
    );
}

crate::on_every_backend!(
    an_agent_reads_conversations_messages_and_contacts_of_their_workspace_only,
    a_workspace_sets_its_own_stop_words_and_they_replace_the_defaults,
);
