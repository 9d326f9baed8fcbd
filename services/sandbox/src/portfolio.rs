//! Messaging limits per business portfolio (§7): how many unique users the
//! portfolio's numbers may reach outside a customer service window in a
//! rolling 24 hours. In the sandbox every WABA is its own portfolio, so the
//! numbers of one WABA share one limit.
//!
//! Meta documents no error code for this limit. The sandbox accepts the send
//! (Meta only knows at delivery whether the user is new to the portfolio) and
//! fails it asynchronously with 131000 and a details text naming the limit,
//! so our dispatcher must budget from the tier it reads, never from a code.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::control::{ControlError, check};
use crate::error::MetaError;
use crate::world::{SERVICE_WINDOW, World};

/// A portfolio's messaging limit, as Graph names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    /// New portfolios: 250 users.
    #[default]
    T250,
    /// After business verification: 2,000 users.
    T2K,
    /// 10,000 users.
    T10K,
    /// 100,000 users.
    T100K,
    /// No limit.
    Unlimited,
}

impl Tier {
    const ALL: [Tier; 5] = [
        Tier::T250,
        Tier::T2K,
        Tier::T10K,
        Tier::T100K,
        Tier::Unlimited,
    ];

    /// The Graph value (`TIER_250` … `TIER_UNLIMITED`).
    pub fn name(self) -> &'static str {
        match self {
            Tier::T250 => "TIER_250",
            Tier::T2K => "TIER_2K",
            Tier::T10K => "TIER_10K",
            Tier::T100K => "TIER_100K",
            Tier::Unlimited => "TIER_UNLIMITED",
        }
    }

    /// Parses a Graph value.
    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Unique users per rolling 24 hours, `None` when unlimited.
    pub fn limit(self) -> Option<usize> {
        match self {
            Tier::T250 => Some(250),
            Tier::T2K => Some(2_000),
            Tier::T10K => Some(10_000),
            Tier::T100K => Some(100_000),
            Tier::Unlimited => None,
        }
    }
}

/// One portfolio's tier and the users it reached.
#[derive(Debug, Default)]
pub struct Portfolio {
    /// The current limit.
    pub tier: Tier,
    /// When each user was last reached outside a service window.
    reached: HashMap<String, u64>,
}

impl World {
    /// The tier of the portfolio that owns `waba_id`.
    pub fn tier(&self, waba_id: &str) -> Tier {
        self.portfolios
            .get(waba_id)
            .map(|p| p.tier)
            .unwrap_or_default()
    }

    /// Counts a business-initiated message to `wa_id` against the portfolio's
    /// limit. A user already reached in the last 24 hours costs nothing; a new
    /// one past the limit is refused with the limit's error.
    pub fn reach(&mut self, waba_id: &str, wa_id: &str) -> Result<(), MetaError> {
        let now = self.now();
        let portfolio = self.portfolios.entry(waba_id.to_string()).or_default();
        portfolio
            .reached
            .retain(|_, at| now < *at + SERVICE_WINDOW.as_secs());
        let known = portfolio.reached.contains_key(wa_id);
        if let Some(limit) = portfolio.tier.limit()
            && !known
            && portfolio.reached.len() >= limit
        {
            return Err(limit_reached(portfolio.tier, limit));
        }
        portfolio.reached.insert(wa_id.to_string(), now);
        Ok(())
    }
}

fn limit_reached(tier: Tier, limit: usize) -> MetaError {
    MetaError::coded(
        axum::http::StatusCode::BAD_REQUEST,
        131000,
        "Something went wrong",
    )
    .details(format!(
        "Message failed to send because the business portfolio reached its messaging limit \
         ({}: {limit} unique users in 24 hours).",
        tier.name()
    ))
}

/// Body of `POST /_sandbox/portfolio`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTier {
    /// Defaults to the seeded WABA.
    waba_id: Option<String>,
    /// `TIER_250` … `TIER_UNLIMITED`.
    tier: String,
}

/// `POST /_sandbox/portfolio`: moves a portfolio to another tier, as business
/// verification or automatic scaling would, and tells every number's
/// subscriber with `phone_number_quality_update`.
pub async fn set_tier(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Json(req): Json<SetTier>,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    let tier = Tier::parse(&req.tier).ok_or_else(|| {
        ControlError::bad_request(
            "tier must be TIER_250, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED",
        )
    })?;
    let waba_id = req
        .waba_id
        .unwrap_or_else(|| sandbox.seed().waba_id.clone());
    let mut world = sandbox.world();
    let mut numbers: Vec<_> = world
        .numbers
        .values()
        .filter(|n| n.waba_id == waba_id)
        .cloned()
        .collect();
    if numbers.is_empty() {
        return Err(ControlError::not_found(format!("no WABA {waba_id}")));
    }
    numbers.sort_by(|a, b| a.id.cmp(&b.id));
    let old = world.tier(&waba_id);
    world.portfolios.entry(waba_id.clone()).or_default().tier = tier;
    let event = if tier.limit().unwrap_or(usize::MAX) >= old.limit().unwrap_or(usize::MAX) {
        "UPGRADE"
    } else {
        "DOWNGRADE"
    };
    for number in numbers {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{
            "field": "phone_number_quality_update",
            "value": {"display_phone_number": number.display_phone_number, "event": event,
                      "current_limit": tier.name(), "old_limit": old.name(),
                      "max_daily_conversations_per_business": tier.name()}}]}]});
        world.emit(&waba_id, &payload);
    }
    Ok(Json(
        json!({"waba_id": waba_id, "tier": tier.name(), "old_tier": old.name()}),
    ))
}
