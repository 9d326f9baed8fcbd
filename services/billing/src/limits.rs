//! What a tenant used against what its plan allows: usage counting on
//! request, the usage report, `CheckLimit` (which automation asks before it
//! acts), and the daily message bound that `Reserve` enforces itself.
//!
//! Outbound messages are counted by the wallet writer in the batch that
//! reserves them (free ones when quoted free), so a check sees every message
//! already reserved; messages reserved while a check is in flight are not
//! seen, so concurrent senders can overshoot a limit by what they have in
//! flight at once. Numbers and agents in use come from tenancy's profile,
//! cached for a minute; tenancy enforces those two limits itself.

use aerostic_kit::ApiError;
use aerostic_kit::identity::Identity;
use chrono::{DateTime, Utc};

use crate::directory::Profile;
use crate::prices::CATEGORIES;
use crate::service::{Billing, internal, may_send, may_view};
use crate::usage::{self, Metric};

/// One metric's use against the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The metric's name.
    pub metric: String,
    /// Used this period (or in use now).
    pub used: i64,
    /// The plan's bound, if it has one.
    pub limit: Option<u32>,
    /// The period counted, start and end (none for what is in use now).
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Usage {
    /// What is left before the limit (`u64::MAX` without one).
    pub fn remaining(&self) -> u64 {
        self.limit.map_or(u64::MAX, |limit| {
            u64::from(limit).saturating_sub(self.used.max(0) as u64)
        })
    }

    /// Whether `quantity` more stays within the limit.
    pub fn allows(&self, quantity: u64) -> bool {
        quantity <= self.remaining()
    }
}

/// How fresh the day's outbound count must be.
enum Read {
    /// Read now: what `GetUsage` and `CheckLimit` show.
    Exact,
    /// Recent enough to judge a send far from the bound (`today.rs`).
    Recent,
}

/// How a metric is measured.
enum Measure {
    /// A counter of billing's, per period.
    Counted(Metric),
    /// Every outbound category today.
    OutboundTotal,
    /// Connected numbers, from tenancy.
    Numbers,
    /// Seats taken, from tenancy.
    Agents,
}

const METRICS_HELP: &str = "must be ai_credits, messages.outbound, messages.outbound.<category>, \
     messages.inbound, numbers or agents";

fn measure(raw: &str) -> Result<(String, Measure), &'static str> {
    let name = raw.trim().to_ascii_lowercase();
    let measure = match name.as_str() {
        "messages.outbound" => Measure::OutboundTotal,
        "numbers" => Measure::Numbers,
        "agents" => Measure::Agents,
        other => Measure::Counted(Metric::parse(other).map_err(|_| METRICS_HELP)?),
    };
    Ok((name, measure))
}

/// The plan's bound on what `measure` measures. Messages per day bounds
/// every outbound category together, not each.
fn bound(measure: &Measure, profile: &Profile) -> Option<u32> {
    match measure {
        Measure::Counted(m) if m.monthly => Some(profile.ai_credits),
        Measure::Counted(_) => None,
        Measure::OutboundTotal => Some(profile.messages_per_day),
        Measure::Numbers => Some(profile.max_numbers),
        Measure::Agents => Some(profile.max_agents),
    }
}

impl Billing {
    /// Counts `quantity` of `metric` once per `event_id`: this period's total.
    pub async fn record_usage(
        &self,
        caller: &Identity,
        metric: &str,
        quantity: u64,
        event_id: &str,
    ) -> Result<i64, ApiError> {
        may_send(caller)?;
        let mut problems = std::collections::BTreeMap::new();
        let metric = Metric::parse(metric)
            .map_err(|e| problems.insert("metric".to_string(), e.to_string()))
            .ok();
        let quantity = i64::try_from(quantity).ok().filter(|q| *q > 0);
        if quantity.is_none() {
            problems.insert("quantity".into(), "must be a positive number".into());
        }
        let event_id = event_id.trim();
        if event_id.is_empty() || event_id.len() > 200 {
            problems.insert(
                "event_id".into(),
                "is required (at most 200 characters)".into(),
            );
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        usage::record(
            &self.db,
            &caller.tenant_id.to_string(),
            &metric.expect("checked"),
            quantity.expect("checked"),
            event_id,
        )
        .await
        .map_err(internal)
    }

    /// The caller's use of `metric` against its plan.
    pub async fn usage(&self, caller: &Identity, metric: &str) -> Result<Usage, ApiError> {
        may_view(caller)?;
        let (name, measure) = measure(metric).map_err(|e| ApiError::invalid_field("metric", e))?;
        self.measured(caller, name, measure, Read::Exact).await
    }

    /// The caller's use of every metric against its plan.
    pub async fn usage_report(&self, caller: &Identity) -> Result<Vec<Usage>, ApiError> {
        may_view(caller)?;
        let mut names = vec!["ai_credits".to_string(), "messages.outbound".into()];
        names.extend(
            CATEGORIES
                .iter()
                .map(|c| format!("{}{c}", usage::OUTBOUND_PREFIX)),
        );
        names.extend(["messages.inbound", "numbers", "agents"].map(String::from));
        let mut report = Vec::with_capacity(names.len());
        for name in names {
            let (name, measure) = measure(&name).map_err(internal)?;
            report.push(self.measured(caller, name, measure, Read::Exact).await?);
        }
        Ok(report)
    }

    /// Whether `quantity` more of a bounded `metric` stays within the
    /// caller's plan, and its use (senders ask before sending; admins too).
    pub async fn check_limit(
        &self,
        caller: &Identity,
        metric: &str,
        quantity: u64,
    ) -> Result<(bool, Usage), ApiError> {
        may_send(caller).or_else(|_| may_view(caller))?;
        let mut problems = std::collections::BTreeMap::new();
        let measured = measure(metric)
            .map_err(|e| problems.insert("metric".to_string(), e.to_string()))
            .ok();
        // One category's messages are checked against the day's shared bound.
        let measured = match measured {
            Some((_, Measure::Counted(m))) if m.name.starts_with(usage::OUTBOUND_PREFIX) => {
                Some(("messages.outbound".to_string(), Measure::OutboundTotal))
            }
            Some((_, Measure::Counted(m))) if m.name == "messages.inbound" => {
                problems.insert("metric".into(), "messages.inbound has no limit".into());
                None
            }
            other => other,
        };
        if quantity == 0 {
            problems.insert("quantity".into(), "must be at least 1".into());
        }
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        let (name, measure) = measured.expect("checked");
        let usage = self.measured(caller, name, measure, Read::Exact).await?;
        Ok((usage.allows(quantity), usage))
    }

    /// Refuses one more outbound message once the plan's messages of the
    /// day are used up (`plan_limit_reached`). `Reserve` asks this before it
    /// holds a price, so a send costs the dispatcher one call to billing.
    pub(crate) async fn within_daily_bound(&self, caller: &Identity) -> Result<(), ApiError> {
        let usage = self
            .measured(
                caller,
                "messages.outbound".into(),
                Measure::OutboundTotal,
                Read::Recent,
            )
            .await?;
        if usage.allows(1) {
            return Ok(());
        }
        Err(ApiError::new(
            aerostic_kit::error::ErrorKind::FailedPrecondition,
            "plan_limit_reached",
            "your plan's messages for today are used up; upgrade the plan or wait until tomorrow (UTC)",
        )
        .with_detail("metric", usage.metric)
        .with_detail("limit", usage.limit.unwrap_or_default().to_string())
        .with_detail("used", usage.used.to_string()))
    }

    async fn measured(
        &self,
        caller: &Identity,
        name: String,
        measure: Measure,
        read: Read,
    ) -> Result<Usage, ApiError> {
        let profile = self.directory.profile(caller).await?;
        let tenant = caller.tenant_id.to_string();
        let now = Utc::now();
        let day = Metric::outbound("");
        let (used, period) = match &measure {
            Measure::Counted(m) => (
                usage::used(&self.db, &tenant, m).await.map_err(internal)?,
                Some((m.period(now).1, m.period_end(now))),
            ),
            Measure::OutboundTotal => (
                match read {
                    Read::Exact => self.today.outbound_today(&tenant).await,
                    Read::Recent => self.today.recent(&tenant, profile.messages_per_day).await,
                }
                .map_err(internal)?,
                Some((day.period(now).1, day.period_end(now))),
            ),
            Measure::Numbers => (i64::from(profile.numbers_in_use), None),
            Measure::Agents => (i64::from(profile.agents_in_use), None),
        };
        Ok(Usage {
            limit: bound(&measure, &profile),
            metric: name,
            used,
            period,
        })
    }
}
