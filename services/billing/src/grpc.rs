//! The gRPC face of billing: translate, call [`Billing`], translate back.

use aerostic_kit::ApiError;
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_server::Billing as BillingRpc;
use tonic::{Request, Response, Status};

use crate::ledger::Kind;
use crate::money::Currency;
use crate::prices::{self, Priced};
use crate::service::{Billing, Entry, message_id};
use crate::wallet::{MessageState, Op};

/// Serves [`BillingRpc`] over the domain.
pub struct BillingGrpc {
    /// The domain.
    pub billing: Billing,
    /// Opens the caller identity the gateway (or a service) sealed.
    pub seal: IdentitySeal,
}

fn money(currency: Currency, amount_minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: currency.to_string(),
        amount_minor,
    })
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(aerostic_proto::timestamp(t))
}

/// A priced message from the wire, every field checked.
fn priced(m: Option<pb::PricedMessage>) -> Result<Priced, ApiError> {
    let m = m.unwrap_or_default();
    let mut problems = std::collections::BTreeMap::new();
    let category = prices::category(&m.category)
        .map_err(|e| problems.insert("message.category".to_string(), e.to_string()))
        .ok();
    let country = prices::country(&m.country, false)
        .map_err(|e| problems.insert("message.country".to_string(), e.to_string()))
        .ok();
    let template = prices::template(&m.template_name)
        .map_err(|e| problems.insert("message.template_name".to_string(), e.to_string()))
        .ok();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Ok(Priced {
        category: category.expect("checked"),
        country: country.expect("checked"),
        template: template.expect("checked"),
        window_open: m.window_open,
        free_entry_point: m.free_entry_point,
    })
}

fn charge(message_id: &str, state: &MessageState, currency: Currency) -> pb::MessageCharge {
    pb::MessageCharge {
        message_id: message_id.to_string(),
        state: state.name().to_string(),
        amount: money(currency, state.hold().map_or(0, |h| h.price.total())),
    }
}

fn kind_pb(kind: &str) -> pb::LedgerKind {
    match Kind::parse(kind) {
        Some(Kind::TopUp) => pb::LedgerKind::TopUp,
        Some(Kind::Adjustment) => pb::LedgerKind::Adjustment,
        Some(Kind::Reserve) => pb::LedgerKind::Reserve,
        Some(Kind::Settle) => pb::LedgerKind::Settle,
        Some(Kind::Release) => pb::LedgerKind::Release,
        Some(Kind::Refund) => pb::LedgerKind::Refund,
        None => pb::LedgerKind::Unspecified,
    }
}

fn entry_pb(e: Entry) -> pb::LedgerEntry {
    let currency = Currency::parse(&e.tx.currency).unwrap_or(Currency::parse("USD").expect("USD"));
    pb::LedgerEntry {
        id: e.tx.id,
        kind: kind_pb(&e.tx.kind) as i32,
        available_change: money(currency, e.available_change),
        available_after: money(currency, e.tx.available_after),
        held_after: money(currency, e.tx.held_after),
        reference: e.tx.reference,
        detail: e.tx.detail,
        created_at: timestamp(e.tx.created_at),
        seq: e.tx.seq,
    }
}

/// Page size of the wallet history: 1..=200, default 50.
fn page_size(page: &Option<pb::PageRequest>) -> u64 {
    match page.as_ref().map_or(0, |p| p.page_size) {
        0 => 50,
        n => u64::from(n.min(200)),
    }
}

fn cursor(page: &Option<pb::PageRequest>) -> Result<Option<i64>, ApiError> {
    match page.as_ref().map(|p| p.cursor.as_str()).unwrap_or_default() {
        "" => Ok(None),
        raw => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::invalid_field("page.cursor", "is not a cursor this API gave")),
    }
}

/// Most reservations one `ReserveMany` takes.
pub const RESERVE_MANY_MAX: usize = 256;

/// A `ReserveMany` holds 1 to [`RESERVE_MANY_MAX`] reservations, each message once.
fn check_batch(items: &[pb::ReserveRequest]) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > RESERVE_MANY_MAX {
        return Err(ApiError::invalid_field(
            "reservations",
            format!("1 to {RESERVE_MANY_MAX} reservations, not {}", items.len()),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    if let Some(twice) = items.iter().find(|r| !seen.insert(r.message_id.as_str())) {
        return Err(ApiError::invalid_field(
            "reservations",
            format!("message id {} appears more than once", twice.message_id),
        ));
    }
    Ok(())
}

impl BillingGrpc {
    fn caller<T>(&self, request: &Request<T>) -> Result<Identity, Status> {
        Ok(self.seal.caller(request)?)
    }
}

aerostic_kit::service_impl! {
    impl BillingRpc for BillingGrpc {
        async fn get_wallet(&self, request: Request<pb::GetWalletRequest>) -> Result<Response<pb::Wallet>, Status> {
            let caller = self.caller(&request)?;
            let (w, alert) = self.billing.wallet(&caller, &request.get_ref().tenant_id).await?;
            Ok(Response::new(wallet_pb(w, alert)))
        }

        async fn get_reseller_wallet(&self, request: Request<pb::GetResellerWalletRequest>) -> Result<Response<pb::ResellerWallet>, Status> {
            let caller = self.caller(&request)?;
            let id = request.into_inner().reseller_id;
            let earned = self.billing.reseller_earnings(&caller, &id).await?;
            Ok(Response::new(pb::ResellerWallet { reseller_id: id, earned: money(self.billing.wallets().currency(), earned) }))
        }

        async fn set_low_balance_alert(&self, request: Request<pb::SetLowBalanceAlertRequest>) -> Result<Response<pb::Wallet>, Status> {
            let caller = self.caller(&request)?;
            let threshold = request.into_inner().threshold.map(|m| (m.amount_minor, m.currency));
            let (w, alert) = self.billing.set_low_balance_alert(&caller, threshold).await?;
            Ok(Response::new(wallet_pb(w, alert)))
        }

        async fn quote(&self, request: Request<pb::QuoteRequest>) -> Result<Response<pb::QuoteResponse>, Status> {
            let caller = self.caller(&request)?;
            let m = priced(request.into_inner().message)?;
            let q = self.billing.quote(&caller, &m).await?;
            Ok(Response::new(pb::QuoteResponse {
                price: money(q.currency, q.price.total()),
                base: money(q.currency, q.price.base),
                markup: money(q.currency, q.price.markup),
                free_because: q.free_because.unwrap_or_default().to_string(),
            }))
        }

        async fn reserve(&self, request: Request<pb::ReserveRequest>) -> Result<Response<pb::MessageCharge>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let m = priced(r.message)?;
            let (state, quote) = self.billing.reserve(&caller, &r.message_id, &m).await?;
            Ok(Response::new(charge(&r.message_id, &state, quote.currency)))
        }

        async fn reserve_many(&self, request: Request<pb::ReserveManyRequest>) -> Result<Response<pb::ReserveManyResponse>, Status> {
            let caller = self.caller(&request)?;
            let items = request.into_inner().reservations;
            check_batch(&items)?;
            // Every item goes its own way (the wallet's writer batches them
            // again); one refused item leaves the others as they are.
            let outcomes = futures::future::join_all(items.into_iter().map(|r| async {
                let answer = match priced(r.message) {
                    Ok(m) => self.billing.reserve(&caller, &r.message_id, &m).await,
                    Err(e) => Err(e),
                };
                let outcome = match answer {
                    Ok((state, quote)) => pb::reserve_outcome::Outcome::Charge(charge(&r.message_id, &state, quote.currency)),
                    Err(e) => pb::reserve_outcome::Outcome::Refusal(e.into()),
                };
                pb::ReserveOutcome { message_id: r.message_id, outcome: Some(outcome) }
            }))
            .await;
            Ok(Response::new(pb::ReserveManyResponse { outcomes }))
        }

        async fn settle(&self, request: Request<pb::SettleRequest>) -> Result<Response<pb::MessageCharge>, Status> {
            let caller = self.caller(&request)?;
            let id = request.into_inner().message_id;
            let op = Op::Settle(message_id(&id)?);
            let state = self.billing.finish(&caller, op).await?;
            Ok(Response::new(charge(&id, &state, self.billing.wallets().currency())))
        }

        async fn release(&self, request: Request<pb::ReleaseRequest>) -> Result<Response<pb::MessageCharge>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let op = Op::Release { message_id: message_id(&r.message_id)?, reason: r.reason };
            let state = self.billing.finish(&caller, op).await?;
            Ok(Response::new(charge(&r.message_id, &state, self.billing.wallets().currency())))
        }

        async fn refund(&self, request: Request<pb::RefundRequest>) -> Result<Response<pb::MessageCharge>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let op = Op::Refund { message_id: message_id(&r.message_id)?, reason: r.reason };
            let state = self.billing.finish(&caller, op).await?;
            Ok(Response::new(charge(&r.message_id, &state, self.billing.wallets().currency())))
        }

        async fn top_up(&self, request: Request<pb::TopUpRequest>) -> Result<Response<pb::LedgerEntry>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let amount = r.amount.unwrap_or_default();
            let entry = self
                .billing
                .top_up(&caller, &r.tenant_id, amount.amount_minor, &amount.currency, &r.reference, &r.note)
                .await?;
            Ok(Response::new(entry_pb(entry)))
        }

        async fn list_ledger_entries(&self, request: Request<pb::ListLedgerEntriesRequest>) -> Result<Response<pb::ListLedgerEntriesResponse>, Status> {
            let caller = self.caller(&request)?;
            let page = request.into_inner().page;
            let limit = page_size(&page);
            let entries = self.billing.history(&caller, cursor(&page)?, limit).await?;
            let next = match entries.last() {
                Some(last) if entries.len() as u64 == limit && last.tx.seq > 1 => last.tx.seq.to_string(),
                _ => String::new(),
            };
            Ok(Response::new(pb::ListLedgerEntriesResponse {
                entries: entries.into_iter().map(entry_pb).collect(),
                page: Some(pb::PageResponse { next_cursor: next }),
            }))
        }

        async fn get_price_list(&self, request: Request<pb::GetPriceListRequest>) -> Result<Response<pb::PriceList>, Status> {
            let caller = self.caller(&request)?;
            let (scope, rows, markup_bps) = self.billing.price_list(&caller).await?;
            Ok(Response::new(price_list_pb(scope, rows, markup_bps)))
        }

        async fn set_price(&self, request: Request<pb::SetPriceRequest>) -> Result<Response<pb::PriceList>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let p = r.price.unwrap_or_default();
            let unit = p.unit_price.unwrap_or_default();
            let scope = self
                .billing
                .set_price(&caller, &r.tenant_id, &p.category, &p.country, &p.template_name, unit.amount_minor, &unit.currency)
                .await?;
            let rows = self.billing.scope_prices(&scope).await?;
            Ok(Response::new(price_list_pb(scope, rows, 0)))
        }

        async fn record_usage(&self, request: Request<pb::RecordUsageRequest>) -> Result<Response<pb::RecordUsageResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let total = self.billing.record_usage(&caller, &r.metric, r.quantity, &r.event_id).await?;
            Ok(Response::new(pb::RecordUsageResponse { total_this_period: total.max(0) as u64 }))
        }

        async fn get_usage(&self, request: Request<pb::GetUsageRequest>) -> Result<Response<pb::Usage>, Status> {
            let caller = self.caller(&request)?;
            let usage = self.billing.usage(&caller, &request.into_inner().metric).await?;
            Ok(Response::new(usage_pb(usage)))
        }

        async fn list_usage(&self, request: Request<pb::ListUsageRequest>) -> Result<Response<pb::ListUsageResponse>, Status> {
            let caller = self.caller(&request)?;
            let report = self.billing.usage_report(&caller).await?;
            Ok(Response::new(pb::ListUsageResponse { usage: report.into_iter().map(usage_pb).collect() }))
        }

        async fn check_limit(&self, request: Request<pb::CheckLimitRequest>) -> Result<Response<pb::CheckLimitResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (allowed, usage) = self.billing.check_limit(&caller, &r.metric, r.quantity).await?;
            Ok(Response::new(pb::CheckLimitResponse { allowed, remaining: usage.remaining(), usage: Some(usage_pb(usage)) }))
        }
    }
    unimplemented {}
}

fn price_list_pb(
    scope: String,
    rows: Vec<crate::entity::price::Model>,
    markup_bps: u32,
) -> pb::PriceList {
    pb::PriceList {
        scope,
        markup_bps,
        prices: rows
            .into_iter()
            .map(|p| pb::Price {
                unit_price: Some(pb::Money {
                    currency: p.currency,
                    amount_minor: p.unit_minor,
                }),
                category: p.category,
                country: p.country,
                template_name: p.template,
            })
            .collect(),
    }
}

fn usage_pb(u: crate::limits::Usage) -> pb::Usage {
    pb::Usage {
        metric: u.metric,
        used: u.used.max(0) as u64,
        limit: u.limit.map_or(0, u64::from),
        limited: u.limit.is_some(),
        period_start: u.period.and_then(|(start, _)| timestamp(start)),
        period_end: u.period.and_then(|(_, end)| timestamp(end)),
    }
}

fn wallet_pb(w: crate::wallet::WalletState, alert: Option<crate::alert::Alert>) -> pb::Wallet {
    pb::Wallet {
        tenant_id: w.tenant_id.to_string(),
        available: money(w.currency, w.available),
        held: money(w.currency, w.held),
        updated_at: None,
        low_balance_alert: alert.and_then(|a| money(w.currency, a.threshold)),
    }
}
