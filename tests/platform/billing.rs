//! Billing through the mesh, as the dispatcher and the admin API will call
//! it: top-ups once per payment reference, the send cycle with Meta's free
//! cases, a reseller's markup and a tenant's template price, short funds
//! refused with the figures, and a failed template refunded once.

use crate::common;

use aerostic_proto::v1 as pb;
use common::billing::{
    as_caller, balances, client, identity, marketing, root_identity, top_up, usd,
};
use common::{ADMIN_HOST, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_send_cycle_holds_earns_refunds_once_and_refuses_short_funds_with_the_figures() {
    let app = spawn_app().await;
    let root = root_identity(&app).await;
    let token = app.new_admin().await;
    let admin = identity(&app, &token).await;
    let mut billing = client(&app);

    let first = top_up(&app, &root, &admin, 10, "pay_1").await;
    let again = top_up(&app, &root, &admin, 10, "pay_1").await;
    assert_eq!(
        first.id, again.id,
        "a repeated payment reference credits once"
    );
    let not_admin = billing
        .top_up(as_caller(
            &app,
            &admin,
            pb::TopUpRequest {
                tenant_id: admin.tenant_id.to_string(),
                amount: usd(1_000),
                reference: "self".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        not_admin.code(),
        tonic::Code::PermissionDenied,
        "tenants cannot credit themselves"
    );

    // Free: a service message, a utility template inside the window.
    for (category, window_open) in [("service", false), ("utility", true)] {
        let q = billing
            .quote(as_caller(
                &app,
                &admin,
                pb::QuoteRequest {
                    message: Some(pb::PricedMessage {
                        category: category.into(),
                        country: "IN".into(),
                        window_open,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(q.price.unwrap().amount_minor, 0, "{category} is free");
        assert!(!q.free_because.is_empty());
    }

    // Marketing costs 3 cents by default: three fit in 10, the fourth does not.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = uuid::Uuid::now_v7().to_string();
        let held = billing
            .reserve(as_caller(
                &app,
                &admin,
                pb::ReserveRequest {
                    message_id: id.clone(),
                    message: marketing(""),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (held.state.as_str(), held.amount.unwrap().amount_minor),
            ("held", 3)
        );
        ids.push(id);
    }
    let short = billing
        .reserve(as_caller(
            &app,
            &admin,
            pb::ReserveRequest {
                message_id: uuid::Uuid::now_v7().to_string(),
                message: marketing(""),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(short.code(), tonic::Code::FailedPrecondition);
    let error = aerostic_kit::ApiError::from(short);
    assert_eq!(error.code, "insufficient_funds");
    assert_eq!(error.details["available_minor"], "1");
    assert_eq!(error.details["required_minor"], "3");

    // Settle one, release one, and a failed settled template is refunded once.
    let settle = |id: &str| pb::SettleRequest {
        message_id: id.to_string(),
    };
    assert_eq!(
        billing
            .settle(as_caller(&app, &admin, settle(&ids[0])))
            .await
            .unwrap()
            .into_inner()
            .state,
        "settled"
    );
    assert_eq!(
        billing
            .settle(as_caller(&app, &admin, settle(&ids[0])))
            .await
            .unwrap()
            .into_inner()
            .state,
        "settled"
    );
    let released = billing
        .release(as_caller(
            &app,
            &admin,
            pb::ReleaseRequest {
                message_id: ids[1].clone(),
                reason: "131026".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.state, "released");
    for _ in 0..10 {
        let refunded = billing
            .refund(as_caller(
                &app,
                &admin,
                pb::RefundRequest {
                    message_id: ids[0].clone(),
                    reason: "failed".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(refunded.state, "refunded");
    }
    assert_eq!(
        balances(&app, &admin).await,
        (10 - 3, 3),
        "only the third message is still held"
    );

    let history = billing
        .list_ledger_entries(as_caller(
            &app,
            &admin,
            pb::ListLedgerEntriesRequest {
                page: Some(pb::PageRequest {
                    page_size: 3,
                    cursor: String::new(),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let refunds: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.kind() == pb::LedgerKind::Refund)
        .collect();
    assert_eq!(refunds.len(), 1, "one refund entry");
    assert_eq!(
        refunds[0].available_change.as_ref().unwrap().amount_minor,
        3
    );
    let next = history.page.unwrap().next_cursor;
    assert!(!next.is_empty(), "more history pages");
    let older = billing
        .list_ledger_entries(as_caller(
            &app,
            &admin,
            pb::ListLedgerEntriesRequest {
                page: Some(pb::PageRequest {
                    page_size: 50,
                    cursor: next,
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seqs: Vec<i64> = history
        .entries
        .iter()
        .chain(&older.entries)
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).rev().collect::<Vec<_>>(),
        "every entry once, newest first"
    );

    // The same history over REST, a page at a time.
    let page = |query: String| {
        let (app, token) = (&app, token.clone());
        async move {
            app.call_on(
                common::APP_HOST,
                Method::GET,
                &format!("/v1/billing/ledger{query}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let first = page("?limit=2".into()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let rest = page(format!("?limit=200&cursor={cursor}")).await;
    let rest_seqs: Vec<i64> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["data"].as_array().unwrap())
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(rest_seqs, seqs, "REST pages join up like the gRPC ones");
    assert!(rest.body["next_cursor"].is_null());
    let bad = page("?limit=500".into()).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["details"]["limit"].is_string(),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn a_resellers_markup_and_a_tenants_template_price_are_applied() {
    let app = spawn_app().await;
    let root_token = app.super_admin().await;
    let root = root_identity(&app).await;
    let reseller = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/admin/resellers",
            Some(&root_token),
            Some(&json!({"name": "Acme Resale", "logo_url": "https://resale.example/logo.png", "primary_color": "#0f766e", "accent_color": "#111827", "markup_bps": 5000})),
        )
        .await;
    assert_eq!(reseller.status, 201, "{}", reseller.body);
    let domain = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!(
                "/v1/admin/resellers/{}/domains",
                reseller.body["id"].as_str().unwrap()
            ),
            Some(&root_token),
            Some(&json!({"domain": "chat.resale.example"})),
        )
        .await;
    assert_eq!(domain.status, 201, "{}", domain.body);
    let email = common::unique_email();
    let registered = app
        .call_on(
            "chat.resale.example",
            Method::POST,
            "/v1/auth/register",
            None,
            Some(&json!({"tenant_name": "Resold", "email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let token = app.login(&email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let tenant = identity(&app, &token).await;
    let mut billing = client(&app);

    let quote = |template: &str| {
        as_caller(
            &app,
            &tenant,
            pb::QuoteRequest {
                message: marketing(template),
            },
        )
    };
    let q = billing.quote(quote("")).await.unwrap().into_inner();
    assert_eq!(
        (
            q.base.unwrap().amount_minor,
            q.markup.unwrap().amount_minor,
            q.price.unwrap().amount_minor
        ),
        (3, 2, 5),
        "3 cents plus 50% (1.5, rounded half up)"
    );

    let set = billing
        .set_price(as_caller(
            &app,
            &root,
            pb::SetPriceRequest {
                tenant_id: tenant.tenant_id.to_string(),
                price: Some(pb::Price {
                    category: "marketing".into(),
                    country: "*".into(),
                    template_name: "spring_sale".into(),
                    unit_price: usd(10),
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.scope, tenant.tenant_id.to_string());
    let q = billing
        .quote(quote("spring_sale"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (q.base.unwrap().amount_minor, q.price.unwrap().amount_minor),
        (10, 15),
        "the template's own price"
    );
    let q = billing
        .quote(quote("other_template"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        q.base.unwrap().amount_minor,
        3,
        "other templates keep the category price"
    );

    let bad = billing
        .set_price(as_caller(
            &app,
            &root,
            pb::SetPriceRequest {
                tenant_id: String::new(),
                price: Some(pb::Price {
                    category: "promo".into(),
                    country: "Brazil".into(),
                    template_name: String::new(),
                    unit_price: Some(pb::Money {
                        currency: "EUR".into(),
                        amount_minor: -1,
                    }),
                }),
            },
        ))
        .await
        .unwrap_err();
    let bad = aerostic_kit::ApiError::from(bad);
    for field in ["category", "country", "unit_price_minor", "currency"] {
        assert!(bad.details.contains_key(field), "{field}: {bad:?}");
    }
    let by_tenant = billing
        .set_price(as_caller(
            &app,
            &tenant,
            pb::SetPriceRequest {
                tenant_id: tenant.tenant_id.to_string(),
                price: Some(pb::Price {
                    category: "marketing".into(),
                    country: "*".into(),
                    template_name: String::new(),
                    unit_price: usd(0),
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        by_tenant.code(),
        tonic::Code::PermissionDenied,
        "tenants do not set their own prices"
    );
}

#[tokio::test]
async fn metas_statuses_settle_once_release_free_messages_and_refund_a_failure_once() {
    use aerostic_billing::status::{MessageStatus, Pricing, TOPIC};
    use aerostic_kit::broker::Envelope;

    let app = spawn_app().await;
    let root = root_identity(&app).await;
    let admin = identity(&app, &app.new_admin().await).await;
    top_up(&app, &root, &admin, 100, "pay_statuses").await;
    let mut billing = client(&app);
    let (billed, free) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for id in [billed, free] {
        billing
            .reserve(as_caller(
                &app,
                &admin,
                pb::ReserveRequest {
                    message_id: id.to_string(),
                    message: marketing(""),
                },
            ))
            .await
            .unwrap();
    }
    let broker = aerostic_kit::broker::connect(
        &app.backends.broker_url,
        &app.backends.namespace,
        app.backends.idle_queue_expiry,
    )
    .await
    .unwrap();
    let status = |id: uuid::Uuid, status: &str, kind: Option<&str>| MessageStatus {
        tenant_id: admin.tenant_id,
        message_id: id.to_string().parse().unwrap(),
        wamid: format!("wamid.{id}"),
        status: status.into(),
        pricing: kind.map(|k| Pricing {
            billable: Some(k == "regular"),
            kind: Some(k.into()),
            category: Some("marketing".into()),
            pricing_model: Some("PMP".into()),
        }),
        error_code: (status == "failed").then_some(131026),
    };
    // Pricing on `sent` and again on `delivered`, a redelivery, then a
    // failure three times; a free one; all possibly out of order.
    let events = [
        status(billed, "delivered", Some("regular")),
        status(billed, "sent", Some("regular")),
        status(billed, "sent", Some("regular")),
        status(free, "sent", Some("free_customer_service")),
        status(billed, "failed", None),
        status(billed, "failed", None),
        status(billed, "failed", None),
    ];
    for event in &events {
        broker.publish(Envelope::json(TOPIC, event)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let history_kinds = || async {
        let history = client(&app)
            .list_ledger_entries(as_caller(
                &app,
                &admin,
                pb::ListLedgerEntriesRequest { page: None },
            ))
            .await
            .unwrap()
            .into_inner();
        history
            .entries
            .iter()
            .map(|e| e.kind())
            .collect::<Vec<pb::LedgerKind>>()
    };
    loop {
        let kinds = history_kinds().await;
        if kinds.contains(&pb::LedgerKind::Refund) && kinds.contains(&pb::LedgerKind::Release) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "statuses not applied: {kinds:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Let any straggling duplicate land before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let kinds = history_kinds().await;
    let count = |k: pb::LedgerKind| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(
        count(pb::LedgerKind::Settle),
        1,
        "billed once though pricing came twice: {kinds:?}"
    );
    assert_eq!(count(pb::LedgerKind::Refund), 1, "refunded once: {kinds:?}");
    assert_eq!(
        count(pb::LedgerKind::Release),
        1,
        "the free message gave its hold back"
    );
    assert_eq!(balances(&app, &admin).await, (100, 0));
}

#[tokio::test]
async fn a_batch_of_reservations_judges_each_message_alone_and_refuses_a_malformed_batch() {
    let app = spawn_app().await;
    let root = root_identity(&app).await;
    let admin = identity(&app, &app.new_admin().await).await;
    // Marketing to BR costs 3: three fit in 10, a fourth does not.
    top_up(&app, &root, &admin, 10, "pay_batch").await;
    let mut billing = client(&app);
    let reservation = |category: &str| pb::ReserveRequest {
        message_id: uuid::Uuid::now_v7().to_string(),
        message: Some(pb::PricedMessage {
            category: category.into(),
            ..marketing("").unwrap()
        }),
    };
    let mut batch: Vec<pb::ReserveRequest> = (0..4).map(|_| reservation("marketing")).collect();
    batch.insert(2, reservation("gossip"));
    let asked: Vec<String> = batch.iter().map(|r| r.message_id.clone()).collect();
    let outcomes = billing
        .reserve_many(as_caller(
            &app,
            &admin,
            pb::ReserveManyRequest {
                reservations: batch,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .outcomes;
    let answered: Vec<String> = outcomes.iter().map(|o| o.message_id.clone()).collect();
    assert_eq!(answered, asked, "one outcome per reservation, in order");
    let (mut held, mut refused) = (0, Vec::new());
    for outcome in outcomes {
        match outcome.outcome.unwrap() {
            pb::reserve_outcome::Outcome::Charge(charge) => {
                assert_eq!(
                    (charge.state.as_str(), charge.amount.unwrap().amount_minor),
                    ("held", 3)
                );
                held += 1;
            }
            pb::reserve_outcome::Outcome::Refusal(refusal) => {
                refused.push(aerostic_kit::ApiError::from(refusal));
            }
        }
    }
    assert_eq!(held, 3, "{refused:?}");
    refused.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(
        (
            refused[0].code.as_str(),
            refused[0].kind.http_status().as_u16()
        ),
        ("insufficient_funds", 402)
    );
    assert_eq!(refused[0].details["available_minor"], "1");
    assert_eq!(
        (
            refused[1].code.as_str(),
            refused[1].kind.http_status().as_u16()
        ),
        ("validation_failed", 400)
    );
    assert!(refused[1].details.contains_key("message.category"));
    assert_eq!(
        balances(&app, &admin).await,
        (1, 9),
        "the caller's own wallet, and only what was held"
    );

    // Empty, too big, or one message twice: refused whole, nothing held.
    let one = reservation("marketing");
    for (reservations, what) in [
        (vec![], "empty"),
        ((0..257).map(|_| reservation("marketing")).collect(), "257"),
        (vec![one.clone(), one], "twice"),
    ] {
        let whole = billing
            .reserve_many(as_caller(
                &app,
                &admin,
                pb::ReserveManyRequest { reservations },
            ))
            .await
            .unwrap_err();
        assert_eq!(whole.code(), tonic::Code::InvalidArgument, "{what}");
        let error = aerostic_kit::ApiError::from(whole);
        assert!(error.details.contains_key("reservations"), "{what}");
    }
    let unsealed = billing
        .reserve_many(tonic::Request::new(pb::ReserveManyRequest {
            reservations: vec![reservation("marketing")],
        }))
        .await
        .unwrap_err();
    assert_eq!(unsealed.code(), tonic::Code::Unauthenticated);
}
