//! The send path's Graph client against the sandbox as Meta: an accepted
//! message gives its wamid, a mark-as-read is confirmed, and each class of
//! Meta's errors comes back typed, with the reaction §6 documents.

use crate::common;

use aerostic_dispatcher::graph::{Credentials, Graph, GraphError};
use aerostic_dispatcher::meta_errors::Reaction;
use common::TestApp;
use common::meta::{connected_number, customer_writes};
use reqwest::Method;
use serde_json::json;

const CUSTOMER: &str = "5511977776666";

fn text(body: &str) -> serde_json::Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, "type": "text", "text": {"body": body}})
}

async fn setup(app: &TestApp) -> (Graph, Credentials, String) {
    let phone_id = connected_number(app).await;
    let sandbox = app.platform.sandbox.expect("the sandbox runs");
    let credentials = Credentials {
        token: aerostic_sandbox::Seed::default().access_token,
        version: "v23.0".into(),
    };
    (
        Graph::new(format!("http://{sandbox}")),
        credentials,
        phone_id,
    )
}

async fn inject(app: &TestApp, code: u32) {
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": [{"code": code, "rate": 1.0}]})),
    )
    .await;
}

async fn an_accepted_message_gives_its_wamid_and_a_read_mark_is_confirmed(app: TestApp) {
    let (graph, credentials, phone_id) = setup(&app).await;
    let inbound = customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let accepted = graph
        .send(&credentials, &phone_id, &text("olá!"))
        .await
        .unwrap();
    assert!(accepted.wamid.starts_with("wamid."), "{accepted:?}");
    assert_eq!(accepted.wa_id.as_deref(), Some(CUSTOMER));
    assert!(inbound.starts_with("wamid."), "{inbound}");
    graph
        .mark_read(&credentials, &phone_id, &inbound, true)
        .await
        .unwrap();
}

async fn each_class_of_meta_errors_comes_back_with_its_reaction(app: TestApp) {
    let (graph, credentials, phone_id) = setup(&app).await;

    // Outside the window, a free-form message is refused: fail, say why.
    let closed = graph
        .send(&credentials, &phone_id, &text("oi?"))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Some(131047), "{closed}");
    assert_eq!(closed.reaction(), Reaction::Fail);

    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    for (code, reaction) in [
        (130429, Reaction::ThrottleNumber),
        (131057, Reaction::Retry),
        (131049, Reaction::Fail),
        (131000, Reaction::Retry),
        (131048, Reaction::PauseCampaigns),
        (131026, Reaction::Fail),
    ] {
        inject(&app, code).await;
        let refused = graph
            .send(&credentials, &phone_id, &text("x"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some(code as i64), "{refused}");
        assert_eq!(refused.reaction(), reaction, "{code}");
        assert!(matches!(&refused, GraphError::Meta { trace, .. } if !trace.is_empty()));
    }

    // A dead token: reconnect the number, the message waits.
    let expired = Credentials {
        token: "not-a-token".into(),
        version: credentials.version.clone(),
    };
    let refused = graph
        .send(&expired, &phone_id, &text("x"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(190), "{refused}");
    assert_eq!(refused.reaction(), Reaction::Reauthenticate);

    // Nobody answering: retried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let unreachable = Graph::new(nowhere)
        .send(&credentials, &phone_id, &text("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, GraphError::Transport(_)),
        "{unreachable}"
    );
    assert_eq!(unreachable.reaction(), Reaction::Retry);
}

crate::on_every_backend!(
    an_accepted_message_gives_its_wamid_and_a_read_mark_is_confirmed,
    each_class_of_meta_errors_comes_back_with_its_reaction,
);
