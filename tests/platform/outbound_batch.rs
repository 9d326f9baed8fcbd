//! `POST /v1/messages/batch` end to end against the sandbox as Meta: each
//! message answered on its own and in order, the good ones queued and sent;
//! another workspace's ids refused per message; a repeated batch replays
//! each message and refuses only a changed one; and a body that is not the
//! documented shape refused whole, with nothing queued.

use crate::common;

use common::TestApp;
use common::meta::{connect_number, count, eventually};
use serde_json::{Value, json};

use crate::outbound_send::{open_window, send};

/// Posts `messages` as one batch, with an `Idempotency-Key` if given.
async fn batch(app: &TestApp, token: &str, messages: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/v1/messages/batch", app.base))
        .header(reqwest::header::HOST, common::APP_HOST)
        .bearer_auth(token)
        .json(&json!({ "messages": messages }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn statuses(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results in {answer}"))
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

/// Whether each sent message of `answer` repeats an earlier answer.
fn replayed(answer: &Value) -> Vec<bool> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results in {answer}"))
        .iter()
        .map(|r| r["sent"]["replayed"] == true)
        .collect()
}

fn text_to(to: &str, from: &str, body: &str) -> Value {
    json!({"to": format!("+{}", to.trim_start_matches('+')), "from_phone_number_id": from, "type": "text", "text": {"body": body}})
}

async fn a_batch_answers_each_message_on_its_own_in_order_and_sends_the_good_ones(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let other = app.new_admin().await;
    let others_phone = connect_number(&app, &other).await;
    let messages = json!([
        text_to(&who, &phone_id, "primeira"),
        text_to(&who, &phone_id, &"x".repeat(4097)),
        text_to("5511911112222", &phone_id, "fora da janela"),
        text_to(&who, &others_phone, "número de outro"),
        text_to(&who, &phone_id, "última"),
    ]);
    let (status, answer) = batch(&app, &admin, messages, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), [202, 400, 422, 404, 202], "{answer}");
    assert_eq!(
        (answer["queued"].as_u64(), answer["refused"].as_u64()),
        (Some(2), Some(3))
    );
    let results = &answer["results"];
    assert_eq!(results[1]["error"]["code"], "validation_failed");
    assert!(
        results[1]["error"]["details"]["text.body"].is_string(),
        "{answer}"
    );
    assert_eq!(results[2]["error"]["code"], "window_closed");
    assert_eq!(results[3]["error"]["code"], "number_not_found");
    assert!(results[0]["error"].is_null() && results[1]["sent"].is_null());
    let first = results[0]["sent"]["message"]["id"].as_str().unwrap();
    let last = results[4]["sent"]["message"]["id"].as_str().unwrap();
    assert_ne!(first, last);
    assert_eq!(results[4]["sent"]["message"]["status"], "queued");
    // Only the two good ones were queued, and both reach Meta.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 2);
    eventually(
        &app,
        &format!(
            "SELECT COUNT(*) FROM messages WHERE id IN ('{first}', '{last}') AND wamid IS NOT NULL"
        ),
        2,
    )
    .await;

    // The other workspace names this one's number and conversation: each
    // message is not found, and nothing of theirs is queued.
    let conversation = results[0]["sent"]["message"]["conversation_id"].clone();
    let tries = json!([
        text_to(&who, &phone_id, "x"),
        {"conversation_id": conversation, "type": "text", "text": {"body": "x"}},
    ]);
    let (status, refused) = batch(&app, &other, tries, None).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(statuses(&refused), [404, 404], "{refused}");
    assert_eq!(
        refused["results"][1]["error"]["code"],
        "conversation_not_found"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 2);
}

async fn a_repeated_batch_replays_each_message_and_refuses_only_the_changed_one(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let messages = |second: &str| {
        json!([
            text_to(&who, &phone_id, "um"),
            text_to(&who, &phone_id, second),
            text_to(&who, &phone_id, "três"),
        ])
    };
    let (status, first) = batch(&app, &admin, messages("dois"), Some("campaign-7")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(statuses(&first), [202, 202, 202], "{first}");
    let ids = |answer: &Value| -> Vec<Value> {
        (0..3)
            .map(|i| answer["results"][i]["sent"]["message"]["id"].clone())
            .collect()
    };
    assert_eq!(replayed(&first), [false; 3], "{first}");

    let (_, again) = batch(&app, &admin, messages("dois"), Some("campaign-7")).await;
    assert_eq!(statuses(&again), [202, 202, 202], "{again}");
    assert_eq!(ids(&again), ids(&first), "the same messages, not new ones");
    assert_eq!(replayed(&again), [true; 3], "{again}");

    let (_, changed) = batch(&app, &admin, messages("outro"), Some("campaign-7")).await;
    assert_eq!(statuses(&changed), [202, 422, 202], "{changed}");
    assert_eq!(
        changed["results"][1]["error"]["code"],
        "idempotency_key_reused"
    );
    // A lone send's key is its own, even when it reads like the batch's.
    let (status, lone, replayed) = send(
        &app,
        &admin,
        &text_to(&who, &phone_id, "um"),
        Some("campaign-7"),
    )
    .await;
    assert_eq!((status, replayed), (202, false), "{lone}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 4);
}

async fn a_batch_that_is_not_the_documented_shape_is_refused_whole_and_queues_nothing(
    app: TestApp,
) {
    let (admin, phone_id, who) = open_window(&app).await;
    let good = text_to(&who, &phone_id, "oi");
    let refusals = [
        (json!([]), None, "messages"),
        (json!(vec![good.clone(); 101]), None, "messages"),
        (
            json!([good.clone(), {"to": "+5511966665555", "text": {"body": "x"}}]),
            None,
            "messages[1].type",
        ),
        (
            json!([good.clone(), {"type": "text", "text": {"body": "x"}, "colour": "red"}]),
            None,
            "messages[1].colour",
        ),
        (
            json!([good.clone()]),
            Some("k".repeat(251)),
            "idempotency_key",
        ),
    ];
    for (messages, key, field) in refusals {
        let (status, refused) = batch(&app, &admin, messages, key.as_deref()).await;
        assert_eq!(status, 400, "{field}: {refused}");
        assert_eq!(refused["error"]["code"], "validation_failed", "{refused}");
        assert!(
            refused["error"]["details"][field].is_string(),
            "{field}: {refused}"
        );
    }
    let reader = app.api_key(&admin, &["messages:read"]).await;
    let (status, refused) = batch(&app, &reader, json!([good]), None).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE direction = 'outbound'"
        )
        .await,
        0
    );
}

async fn an_internal_caller_batches_over_grpc_with_keys_of_its_own_and_each_bad_message_fails_alone(
    app: TestApp,
) {
    use aerostic_kit::config::ServiceName;
    use aerostic_proto::v1 as pb;
    use pb::dispatcher_client::DispatcherClient;
    let (admin, phone_id, who) = open_window(&app).await;
    let caller = common::billing::identity(&app, &admin).await;
    let addr = app
        .platform
        .grpc
        .iter()
        .find(|(n, _)| *n == ServiceName::Dispatcher)
        .unwrap()
        .1;
    let mut dispatcher =
        DispatcherClient::new(aerostic_kit::grpc::channel(&format!("http://{addr}")).unwrap());
    let message = |key: &str, content: &str| pb::SendMessageRequest {
        from_phone_number_id: phone_id.clone(),
        to: format!("+{who}"),
        idempotency_key: key.into(),
        r#type: "text".into(),
        content_json: content.into(),
        ..Default::default()
    };
    let batch = |messages| {
        common::billing::as_caller(
            &app,
            &caller,
            pb::SendMessagesRequest {
                messages,
                idempotency_key: String::new(),
            },
        )
    };
    let good = message("order-9", r#"{"body": "oi"}"#);
    let answer = dispatcher
        .send_messages(batch(vec![good.clone(), message("", "{not json")]))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<_> = answer
        .results
        .into_iter()
        .map(|r| r.outcome.unwrap())
        .collect();
    let pb::send_result::Outcome::Sent(sent) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    let pb::send_result::Outcome::Refused(refused) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(refused.kind, "invalid_argument");
    let detail = refused.detail.as_ref().unwrap();
    assert_eq!(detail.code, "validation_failed");
    assert!(detail.fields.contains_key("content"), "{detail:?}");
    // The message's own key holds: sent alone with it, it is the same message.
    let (status, alone, replayed) = send(
        &app,
        &admin,
        &text_to(&who, &phone_id, "oi"),
        Some("order-9"),
    )
    .await;
    assert_eq!((status, replayed), (202, true), "{alone}");
    assert_eq!(alone["message"]["id"], sent.message.as_ref().unwrap().id);
    // An empty batch is refused whole.
    let empty = dispatcher.send_messages(batch(vec![])).await.unwrap_err();
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sends").await, 1);
}

crate::on_every_backend!(
    an_internal_caller_batches_over_grpc_with_keys_of_its_own_and_each_bad_message_fails_alone,
    a_batch_answers_each_message_on_its_own_in_order_and_sends_the_good_ones,
    a_repeated_batch_replays_each_message_and_refuses_only_the_changed_one,
    a_batch_that_is_not_the_documented_shape_is_refused_whole_and_queues_nothing,
);
