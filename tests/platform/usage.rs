//! Usage against the plan: events counted once, every reserved message
//! counted once per category, and `CheckLimit` answering with the figures.

use crate::common;

use aerostic_proto::v1 as pb;
use common::billing::{as_caller, client, identity, root_identity, top_up};
use common::{APP_HOST, spawn_app};
use reqwest::Method;

#[tokio::test]
async fn usage_is_counted_once_per_event_against_the_plans_limit() {
    let app = spawn_app().await;
    let admin = identity(&app, &app.new_admin().await).await;
    let mut billing = client(&app);
    let record = |event: &str, quantity: u64| {
        as_caller(
            &app,
            &admin,
            pb::RecordUsageRequest {
                metric: "ai_credits".into(),
                quantity,
                event_id: event.into(),
            },
        )
    };
    let mut totals = vec![];
    for (event, quantity) in [("ai-1", 3), ("ai-1", 3), ("ai-2", 2)] {
        let reply = billing.record_usage(record(event, quantity)).await.unwrap();
        totals.push(reply.into_inner().total_this_period);
    }
    assert_eq!(totals, [3, 3, 5], "a repeated event counts once");
    let usage = billing
        .get_usage(as_caller(
            &app,
            &admin,
            pb::GetUsageRequest {
                metric: "ai_credits".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (usage.used, usage.limit, usage.limited),
        (5, 100, true),
        "the starter plan's 100 credits"
    );
    let start = usage.period_start.unwrap();
    let start = chrono::DateTime::from_timestamp(start.seconds, 0).unwrap();
    assert_eq!(
        start.format("%d %H:%M").to_string(),
        "01 00:00",
        "a monthly period"
    );

    let bad = billing
        .record_usage(as_caller(
            &app,
            &admin,
            pb::RecordUsageRequest {
                metric: "free_lunch".into(),
                quantity: 0,
                event_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    let bad = aerostic_kit::ApiError::from(bad);
    for field in ["metric", "quantity", "event_id"] {
        assert!(bad.details.contains_key(field), "{field}: {bad:?}");
    }
    let other = identity(&app, &app.new_admin().await).await;
    let theirs = billing
        .get_usage(as_caller(
            &app,
            &other,
            pb::GetUsageRequest {
                metric: "ai_credits".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs.used, 0, "usage is per tenant");
}

fn priced(category: &str) -> Option<pb::PricedMessage> {
    Some(pb::PricedMessage {
        category: category.into(),
        country: "BR".into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn every_reserved_message_counts_once_and_check_limit_answers_against_the_plan() {
    let app = spawn_app().await;
    let root = root_identity(&app).await;
    let token = app.new_admin().await;
    let admin = identity(&app, &token).await;
    let mut billing = client(&app);
    top_up(&app, &root, &admin, 1_000, "pay_1").await;

    // Three paid marketing messages and two free service replies, each
    // reserved twice (a retrying dispatcher).
    let sends = ["marketing", "marketing", "marketing", "service", "service"]
        .map(|category| (uuid::Uuid::now_v7().to_string(), category));
    for (id, category) in sends.iter().chain(sends.iter()) {
        billing
            .reserve(as_caller(
                &app,
                &admin,
                pb::ReserveRequest {
                    message_id: id.clone(),
                    message: priced(category),
                },
            ))
            .await
            .unwrap();
    }

    let check = |metric: &str, quantity: u64| {
        as_caller(
            &app,
            &admin,
            pb::CheckLimitRequest {
                metric: metric.into(),
                quantity,
            },
        )
    };
    let room = billing
        .check_limit(check("messages.outbound", 995))
        .await
        .unwrap()
        .into_inner();
    let usage = room.usage.clone().unwrap();
    assert_eq!(
        (room.allowed, room.remaining, usage.used, usage.limit),
        (true, 995, 5, 1_000),
        "five messages sent of the starter plan's 1,000 a day"
    );
    let over = billing
        .check_limit(check("messages.outbound.marketing", 996))
        .await
        .unwrap()
        .into_inner();
    assert!(!over.allowed, "996 more would pass the day's 1,000");
    let over = over.usage.unwrap();
    assert_eq!(
        (over.metric.as_str(), over.used),
        ("messages.outbound", 5),
        "one category is checked against every category's count"
    );
    let seats = billing
        .check_limit(check("agents", 3))
        .await
        .unwrap()
        .into_inner();
    let seat_usage = seats.usage.unwrap();
    assert_eq!(
        (seats.allowed, seat_usage.used, seat_usage.limit),
        (false, 1, 3),
        "the admin takes one of three seats"
    );
    assert!(seat_usage.period_start.is_none(), "seats are counted now");

    for (metric, quantity, field) in [
        ("messages.inbound", 1, "metric"),
        ("postcards", 1, "metric"),
        ("ai_credits", 0, "quantity"),
    ] {
        let refused = billing
            .check_limit(check(metric, quantity))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{metric}");
        let refused = aerostic_kit::ApiError::from(refused);
        assert!(refused.details.contains_key(field), "{refused:?}");
    }

    let report = app
        .call_on(
            APP_HOST,
            Method::GET,
            "/v1/billing/usage",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    let figure = |metric: &str| {
        report.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["metric"] == metric)
            .unwrap_or_else(|| panic!("{metric} missing"))
            .clone()
    };
    assert_eq!(figure("messages.outbound")["used"], 5);
    assert_eq!(figure("messages.outbound")["remaining"], 995);
    assert_eq!(figure("messages.outbound.service")["used"], 2);
    assert_eq!(
        figure("messages.outbound.marketing")["limit"],
        serde_json::Value::Null,
        "the day's bound is on every category together"
    );
    assert_eq!(figure("messages.outbound.utility")["used"], 0);
    assert_eq!(figure("messages.inbound")["limit"], serde_json::Value::Null);
    assert_eq!(figure("numbers")["used"], 0);
    assert_eq!(figure("numbers")["limit"], 1);

    let other = identity(&app, &app.new_admin().await).await;
    let theirs = billing
        .check_limit(as_caller(
            &app,
            &other,
            pb::CheckLimitRequest {
                metric: "messages.outbound".into(),
                quantity: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(theirs.usage.unwrap().used, 0, "counts are per tenant");
}
