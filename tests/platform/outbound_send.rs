//! `POST /v1/messages/send` end to end against the sandbox as Meta: a reply
//! in the window goes out and records its wamid; everything Meta or our
//! rules would refuse is refused before anything is queued or paid for;
//! idempotency keys; templates through Meta, checked against our copy and
//! paid from the wallet; and another workspace's ids refused everywhere.

use crate::common;

use common::TestApp;
use common::billing::{identity, root_identity, top_up};
use common::meta::{connect_number, count, customer_writes, eventually, text};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends `body` as `token`, with an `Idempotency-Key` if given: status,
/// body, and whether the answer says it was replayed.
pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let mut request = app
        .http
        .post(format!("{}/v1/messages/send", app.base))
        .header(reqwest::header::HOST, common::APP_HOST)
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, response.json().await.unwrap(), replayed)
}

/// Each test has its own database, so one customer number serves all.
pub(crate) const CUSTOMER: &str = "5511966665555";

/// A workspace with a connected number whose customer just wrote: (admin
/// token, number id, customer's phone).
pub(crate) async fn open_window(app: &TestApp) -> (String, String, String) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(app, &admin).await;
    let who = CUSTOMER.to_string();
    customer_writes(app, &phone_id, &who, "oi, meu pedido?").await;
    eventually(
        app,
        &format!("SELECT COUNT(*) FROM contacts WHERE wa_id = '{who}'"),
        1,
    )
    .await;
    (admin, phone_id, who)
}

async fn a_reply_inside_the_window_goes_out_and_records_its_wamid(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let (status, sent, _) = send(
        &app,
        &admin,
        &json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "text", "text": {"body": "Chega amanhã!"}}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["message"]["status"], "queued");
    assert_eq!(sent["message"]["direction"], "outbound");
    assert_eq!(sent["reserved_minor"], 0, "a service reply is free");
    let id = sent["message"]["id"].as_str().unwrap().to_string();
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM messages WHERE id = '{id}' AND wamid IS NOT NULL"),
        1,
    )
    .await;
    // Meta's statuses move it on; the API shows where it stands.
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM messages WHERE id = '{id}' AND status IN ('sent', 'delivered', 'read')"),
        1,
    )
    .await;
    let got = app
        .call_on(
            common::APP_HOST,
            Method::GET,
            &format!("/v1/messages/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.body["wamid"].as_str().unwrap().starts_with("wamid."));
    assert_eq!(got.body["content"]["text"]["body"], "Chega amanhã!");
    // In the conversation it answers, as the inbox shows it.
    let conversation = sent["message"]["conversation_id"].as_str().unwrap();
    let in_thread = app
        .call_on(
            common::APP_HOST,
            Method::GET,
            &format!("/v1/conversations/{conversation}/messages"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(in_thread.body["data"].as_array().unwrap().len(), 2);
    // Replying by conversation needs neither number nor recipient.
    let (status, again, _) = send(
        &app,
        &admin,
        &json!({"conversation_id": conversation, "type": "reaction", "reaction": {"message_id": got.body["wamid"], "emoji": "👍"}}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["message"]["conversation_id"], conversation);
}

async fn free_form_outside_the_window_is_refused_and_nothing_is_queued(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let (status, refused, _) = send(
        &app,
        &admin,
        &json!({"to": "+5511988887777", "from_phone_number_id": phone_id, "type": "text", "text": {"body": "oi"}}),
        None,
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "window_closed");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template")
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 0);
}

async fn a_send_past_the_plans_messages_of_the_day_is_refused_and_nothing_is_queued(app: TestApp) {
    use sea_orm::ConnectionTrait;
    let (admin, phone_id, who) = open_window(&app).await;
    let tenant = identity(&app, &admin).await.tenant_id;
    let reply = json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "text", "text": {"body": "já vai"}});
    let (status, first, _) = send(&app, &admin, &reply, None).await;
    assert_eq!(status, 202, "{first}");
    // The rest of the starter plan's 1,000 messages of the day, as the
    // wallet writer counts them.
    let today = chrono::Utc::now().format("%Y-%m-%d");
    app.db()
        .await
        .execute_unprepared(&format!(
            "UPDATE usage_counters SET quantity = 1000
             WHERE tenant_id = '{tenant}' AND period = '{today}' AND metric = 'messages.outbound.service'"
        ))
        .await
        .unwrap();
    // Counts made elsewhere (another replica) reach a send's check within a
    // second (billing's today.rs); past that, the bound holds.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, refused, _) = send(&app, &admin, &reply, None).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "plan_limit_reached");
    assert_eq!(refused["error"]["details"]["metric"], "messages.outbound");
    assert_eq!(refused["error"]["details"]["limit"], "1000");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sends").await,
        1,
        "only the first send was queued"
    );
}

async fn every_problem_meta_would_refuse_is_named_before_anything_is_queued(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let to = format!("+{who}");
    let cases = [
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "text", "text": {"body": "x".repeat(4097)}}),
            "text.body",
        ),
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "text"}),
            "text",
        ),
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "poll", "poll": {}}),
            "type",
        ),
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "text", "text": {"body": "a"}, "image": {}}),
            "image",
        ),
        (
            json!({"to": "12", "from_phone_number_id": phone_id, "type": "text", "text": {"body": "a"}}),
            "to",
        ),
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "image", "image": {"link": "http://ex.co/a.png"}}),
            "image.link",
        ),
        (
            json!({"to": to, "from_phone_number_id": phone_id, "type": "interactive", "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "2", "title": "b"}},
            {"type": "reply", "reply": {"id": "3", "title": "c"}}, {"type": "reply", "reply": {"id": "4", "title": "d"}}]}}}),
            "interactive.action.buttons",
        ),
        (
            json!({"to": to, "type": "text", "text": {"body": "a"}, "from_phone_number_id": "999"}),
            "from_phone_number_id",
        ),
    ];
    for (body, field) in cases {
        let (status, refused, _) = send(&app, &admin, &body, None).await;
        assert!([400, 404].contains(&status), "{body}: {status} {refused}");
        let details = refused["error"]["details"].as_object().unwrap();
        assert!(
            details.keys().any(|k| k.starts_with(field)),
            "{body}: {refused} does not name {field}"
        );
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 0);
}

async fn a_repeated_idempotency_key_answers_the_first_result_and_refuses_another_body(
    app: TestApp,
) {
    let (admin, phone_id, who) = open_window(&app).await;
    let body = json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "text", "text": {"body": "uma vez"}});
    let (first_status, first, first_replayed) = send(&app, &admin, &body, Some("order-42")).await;
    assert_eq!(first_status, 202, "{first}");
    assert!(!first_replayed);
    let (status, again, replayed) = send(&app, &admin, &body, Some("order-42")).await;
    assert_eq!(status, 202, "{again}");
    assert!(replayed);
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    let other = json!({"to": format!("+{who}"), "from_phone_number_id": phone_id, "type": "text", "text": {"body": "outra"}});
    let (status, refused, _) = send(&app, &admin, &other, Some("order-42")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    // A refused request leaves its key free to be corrected and retried.
    let closed = json!({"to": "+5511911112222", "from_phone_number_id": phone_id, "type": "text", "text": {"body": "x"}});
    assert_eq!(send(&app, &admin, &closed, Some("k2")).await.0, 422);
    assert_eq!(send(&app, &admin, &body, Some("k2")).await.0, 202);
    eventually(
        &app,
        "SELECT COUNT(*) FROM sends WHERE state = 'accepted'",
        2,
    )
    .await;
}

/// The WABA of number `phone_id`.
pub(crate) async fn waba_of(app: &TestApp, phone_id: &str) -> String {
    text(
        app,
        &format!("SELECT waba_id FROM whatsapp_accounts WHERE phone_number_id = '{phone_id}'"),
    )
    .await
}

/// Creates template `name` (one body parameter) and has Meta approve it.
pub(crate) async fn approved_template(
    app: &TestApp,
    admin: &str,
    waba: &str,
    name: &str,
    category: &str,
) {
    let created = app
        .call_on(
            common::APP_HOST,
            Method::POST,
            "/v1/templates",
            Some(admin),
            Some(&json!({"waba_id": waba, "name": name, "language": "pt_BR", "category": category,
                "components": [{"type": "BODY", "text": "Olá {{1}}, seu pedido saiu.", "example": {"body_text": [["Ana"]]}}]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    let meta_id = text(
        app,
        &format!("SELECT meta_id FROM templates WHERE name = '{name}'"),
    )
    .await;
    app.sandbox_control(
        Method::POST,
        &format!("/_sandbox/templates/{meta_id}/status"),
        Some(&json!({"status": "APPROVED"})),
    )
    .await;
    eventually(
        app,
        &format!("SELECT COUNT(*) FROM templates WHERE name = '{name}' AND status = 'APPROVED'"),
        1,
    )
    .await;
}

async fn a_template_is_checked_against_our_copy_and_paid_from_the_wallet(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "order_shipped", "MARKETING").await;
    let listed = app
        .call_on(
            common::APP_HOST,
            Method::GET,
            "/v1/templates",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        listed.body["data"][0]["status"], "approved",
        "{}",
        listed.body
    );

    let to = "+5511955554444";
    let template = |params: Value| {
        json!({"to": to, "from_phone_number_id": phone_id, "type": "template", "template": {
            "name": "order_shipped", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": params}]}})
    };
    let (status, wrong, _) = send(&app, &admin, &template(json!([])), None).await;
    assert_eq!(status, 400, "{wrong}");
    assert!(wrong["error"]["details"]["template.components.body"].is_string());
    let unknown = json!({"to": to, "from_phone_number_id": phone_id, "type": "template", "template": {"name": "nope", "language": {"code": "pt_BR"}}});
    assert_eq!(
        send(&app, &admin, &unknown, None).await.1["error"]["code"],
        "template_not_found"
    );

    // The wallet is empty: the price is named, nothing is queued.
    let right = template(json!([{"type": "text", "text": "Ana"}]));
    let (status, short, _) = send(&app, &admin, &right, None).await;
    assert_eq!(status, 402, "{short}");
    assert_eq!(short["error"]["code"], "insufficient_funds");
    assert_eq!(short["error"]["details"]["available_minor"], "0");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 0);

    let tenant = identity(&app, &admin).await;
    top_up(&app, &root_identity(&app).await, &tenant, 10_000, "wire-1").await;
    let (status, sent, _) = send(&app, &admin, &right, None).await;
    assert_eq!(status, 202, "{sent}");
    assert!(sent["reserved_minor"].as_i64().unwrap() > 0, "{sent}");
    let id = sent["message"]["id"].as_str().unwrap();
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{id}' AND state = 'accepted'"),
        1,
    )
    .await;

    // Once the contact says STOP, templates are refused.
    customer_writes(&app, &phone_id, "5511955554444", "STOP").await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM contacts WHERE wa_id = '5511955554444' AND opted_out",
        1,
    )
    .await;
    let (status, refused, _) = send(&app, &admin, &right, None).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "contact_opted_out");
}

async fn another_workspaces_ids_are_not_found_on_every_send_endpoint(app: TestApp) {
    let (victim, victim_phone, victim_customer) = open_window(&app).await;
    let victim_waba = waba_of(&app, &victim_phone).await;
    let (status, sent, _) = send(
        &app,
        &victim,
        &json!({"to": format!("+{victim_customer}"), "from_phone_number_id": victim_phone, "type": "text", "text": {"body": "oi"}}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let message = sent["message"]["id"].as_str().unwrap().to_string();
    let conversation = sent["message"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();

    let attacker = app.new_admin().await;
    connect_number(&app, &attacker).await;
    let tries = [
        json!({"to": format!("+{victim_customer}"), "from_phone_number_id": victim_phone, "type": "text", "text": {"body": "x"}}),
        json!({"conversation_id": conversation, "type": "text", "text": {"body": "x"}}),
    ];
    for body in tries {
        let (status, refused, _) = send(&app, &attacker, &body, None).await;
        assert_eq!(status, 404, "{body}: {refused}");
    }
    let read = app
        .call_on(
            common::APP_HOST,
            Method::GET,
            &format!("/v1/messages/{message}"),
            Some(&attacker),
            None,
        )
        .await;
    assert_eq!(read.status, 404);
    assert_eq!(read.body["error"]["code"], "message_not_found");
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/templates/sync".to_string(),
            Some(json!({"waba_id": victim_waba})),
        ),
        (
            Method::POST,
            "/v1/templates".to_string(),
            Some(
                json!({"waba_id": victim_waba, "name": "x", "language": "en", "category": "UTILITY", "components": [{"type": "BODY", "text": "hi"}]}),
            ),
        ),
        (
            Method::DELETE,
            format!("/v1/templates/x?waba_id={victim_waba}"),
            None,
        ),
    ] {
        let answer = app
            .call_on(
                common::APP_HOST,
                method,
                &path,
                Some(&attacker),
                body.as_ref(),
            )
            .await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "waba_not_found");
    }
    // Only the victim's one message was ever queued.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 1);
}

/// A template `made_elsewhere` on `waba`, made in Meta's own tools (the
/// sandbox's Graph API), not through us: Meta's answer.
async fn made_in_metas_tools(app: &TestApp, waba: &str) -> Value {
    let sandbox = format!("http://{}", app.platform.sandbox.unwrap());
    let made = app
        .http
        .post(format!("{sandbox}/v23.0/{waba}/message_templates"))
        .bearer_auth(aerostic_sandbox::Seed::default().access_token)
        .json(
            &json!({"name": "made_elsewhere", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hello"}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    made.json().await.unwrap()
}

async fn the_periodic_sync_brings_in_templates_made_outside_aerostic(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "order_shipped", "UTILITY").await;
    made_in_metas_tools(&app, &waba).await;
    let sandbox = format!("http://{}", app.platform.sandbox.unwrap());
    let tenancy = app
        .platform
        .grpc
        .iter()
        .find(|(name, _)| *name == aerostic_kit::config::ServiceName::Tenancy)
        .map(|(_, addr)| format!("http://{addr}"))
        .unwrap();
    let tenancy = aerostic_proto::v1::tenancy_client::TenancyClient::new(
        aerostic_kit::grpc::channel(&tenancy).unwrap(),
    );
    let templates = aerostic_dispatcher::templates::Templates::new(
        app.db().await,
        aerostic_dispatcher::graph::Graph::new(sandbox),
        tenancy.clone(),
        aerostic_dispatcher::routes::Routes::new(tenancy),
    );
    assert_eq!(templates.sync_all().await.unwrap(), 1, "one WABA synced");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM templates WHERE name = 'made_elsewhere' AND status = 'PENDING'"
        )
        .await,
        1
    );
}

async fn a_review_of_a_template_made_outside_aerostic_brings_it_in_at_once(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    // On a WABA of which we hold no template.
    let made = made_in_metas_tools(&app, &waba).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM templates").await,
        0,
        "nothing of it here yet"
    );
    // Meta approves it and posts the review to us.
    let id = made["id"].as_str().unwrap();
    app.sandbox_control(
        Method::POST,
        &format!("/_sandbox/templates/{id}/status"),
        Some(&json!({"status": "APPROVED"})),
    )
    .await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM templates WHERE name = 'made_elsewhere' AND status = 'APPROVED'",
        1,
    )
    .await;
    let (status, sent, _) = send(
        &app,
        &admin,
        &json!({"to": "+5511977776666", "from_phone_number_id": phone_id, "type": "template",
            "template": {"name": "made_elsewhere", "language": {"code": "en_US"}}}),
        None,
    )
    .await;
    // Known and approved now: only the wallet stands in the way.
    assert_eq!(status, 402, "{sent}");
    assert_eq!(sent["error"]["code"], "insufficient_funds");
}

/// `POST /v1/messages/{id}/read` with `body`, as `token`.
async fn read(app: &TestApp, token: &str, id: &str, body: Value) -> common::Answer {
    app.call_on(
        common::APP_HOST,
        Method::POST,
        &format!("/v1/messages/{id}/read"),
        Some(token),
        Some(&body),
    )
    .await
}

async fn a_customers_message_is_marked_read_at_meta_and_nothing_else_can_be(app: TestApp) {
    let (admin, _, _) = open_window(&app).await;
    let inbound = common::meta::newest_conversation_messages(&app, &admin).await;
    let received = inbound
        .iter()
        .find(|m| m["direction"] == "inbound")
        .expect("the customer's message")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let marked = read(&app, &admin, &received, json!({"typing_indicator": true})).await;
    assert_eq!(marked.status, 200, "{:?}", marked.body);
    assert_eq!(marked.body["id"], received.as_str());
    assert_eq!(
        read(&app, &admin, &received, json!({})).await.status,
        200,
        "again, without typing"
    );

    let refused = read(&app, &admin, &received, json!({"typing": true})).await;
    assert_eq!(refused.status, 400, "an unknown field: {:?}", refused.body);

    // One of ours: nothing to mark.
    let (status, sent, _) = send(
        &app,
        &admin,
        &json!({"to": format!("+{CUSTOMER}"), "type": "text", "text": {"body": "já vai"}}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let ours = sent["message"]["id"].as_str().unwrap().to_string();
    let not_received = read(&app, &admin, &ours, json!({})).await;
    assert_eq!(not_received.status, 422, "{:?}", not_received.body);
    assert_eq!(not_received.body["error"]["code"], "not_a_received_message");

    // Another workspace's message is not found.
    let other = app.new_admin().await;
    let foreign = read(&app, &other, &received, json!({})).await;
    assert_eq!(foreign.status, 404, "{:?}", foreign.body);
    assert_eq!(foreign.body["error"]["code"], "message_not_found");
}

/// Many sends of one caller at once share billing's calls (coalesced per
/// caller), yet each is paid or refused on its own, with its own figures.
async fn sends_at_once_are_each_paid_or_refused_on_their_own(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "order_shipped", "MARKETING").await;
    // Marketing to BR costs 3: six fit in 20.
    let tenant = identity(&app, &admin).await;
    top_up(
        &app,
        &root_identity(&app).await,
        &tenant,
        20,
        "wire-at-once",
    )
    .await;
    let answers = futures::future::join_all((0..12).map(|i| {
        let body = json!({"to": format!("+55119555500{i:02}"), "from_phone_number_id": phone_id,
            "type": "template", "template": {"name": "order_shipped", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}});
        let (app, admin) = (&app, &admin);
        async move { send(app, admin, &body, None).await }
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    statuses.sort();
    assert_eq!(statuses, [[202; 6], [402; 6]].concat(), "{answers:?}");
    for (status, body, _) in &answers {
        if *status == 202 {
            assert_eq!(body["reserved_minor"], 3, "{body}");
        } else {
            assert_eq!(body["error"]["code"], "insufficient_funds", "{body}");
            assert_eq!(body["error"]["details"]["available_minor"], "2", "{body}");
        }
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 6);
}

crate::on_every_backend!(
    sends_at_once_are_each_paid_or_refused_on_their_own,
    a_customers_message_is_marked_read_at_meta_and_nothing_else_can_be,
    a_review_of_a_template_made_outside_aerostic_brings_it_in_at_once,
    the_periodic_sync_brings_in_templates_made_outside_aerostic,
    a_reply_inside_the_window_goes_out_and_records_its_wamid,
    free_form_outside_the_window_is_refused_and_nothing_is_queued,
    a_send_past_the_plans_messages_of_the_day_is_refused_and_nothing_is_queued,
    every_problem_meta_would_refuse_is_named_before_anything_is_queued,
    a_repeated_idempotency_key_answers_the_first_result_and_refuses_another_body,
    a_template_is_checked_against_our_copy_and_paid_from_the_wallet,
    another_workspaces_ids_are_not_found_on_every_send_endpoint,
);
