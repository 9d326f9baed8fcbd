//! `/v1/billing/*` (besides API keys): the workspace's wallet, its history
//! and its prices. Workspace admins, and API keys with `billing:read`.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::billing_views::{LedgerEntryView, PriceListView, UsageView, WalletView};
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::paging::{PageQuery, Paged};
use crate::views::DataList;
use crate::{AppState, GatewayError};

/// The workspace's wallet: what it can spend and what messages in flight hold.
#[utoipa::path(get, path = "/v1/billing/wallet", operation_id = "billing_wallet", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The balances, in minor units", body = WalletView),
        CallerErrors, ServerErrors,
    ))]
pub async fn wallet(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<WalletView>, GatewayError> {
    let w = s
        .billing
        .clone()
        .get_wallet(s.as_caller(&c, pb::GetWalletRequest::default()))
        .await?
        .into_inner();
    Ok(Json(WalletView::of(w)))
}

/// `PUT /v1/billing/wallet/alert` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertBody {
    /// Alert below this available balance, in the wallet's minor units; 0
    /// removes the alert.
    #[serde(default)]
    #[schema(required = true, example = 500)]
    threshold_minor: Option<i64>,
}

/// Sets (or, with 0, removes) the workspace's low-balance alert. The alert
/// is armed: the next movement that leaves the balance below the threshold
/// publishes `billing.low_balance`, once until the balance is back above it.
#[utoipa::path(put, path = "/v1/billing/wallet/alert", operation_id = "billing_set_alert", tag = "billing",
    request_body = AlertBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The wallet with its alert", body = WalletView),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn set_alert(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<AlertBody>,
) -> Result<Json<WalletView>, GatewayError> {
    let w = s
        .billing
        .clone()
        .set_low_balance_alert(s.as_caller(
            &c,
            pb::SetLowBalanceAlertRequest {
                threshold: b.threshold_minor.map(|amount_minor| pb::Money {
                    currency: String::new(),
                    amount_minor,
                }),
            },
        ))
        .await?
        .into_inner();
    Ok(Json(WalletView::of(w)))
}

/// The wallet's history, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/billing/ledger", operation_id = "billing_ledger", tag = "billing",
    params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A page of entries", body = Paged<LedgerEntryView>),
        (status = 400, description = "`validation_failed`: `limit` is not 1–200, or `page.cursor` is not one this API gave", body = crate::error::ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn ledger(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<LedgerEntryView>>, GatewayError> {
    let reply = s
        .billing
        .clone()
        .list_ledger_entries(s.as_caller(&c, pb::ListLedgerEntriesRequest { page: q.page()? }))
        .await?
        .into_inner();
    Ok(Json(Paged::of(
        reply.entries,
        reply.page,
        LedgerEntryView::of,
    )))
}

/// The workspace's prices: its own overrides, then the platform's list, with
/// its reseller's markup.
#[utoipa::path(get, path = "/v1/billing/prices", operation_id = "billing_prices", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Unit prices in minor units", body = PriceListView),
        CallerErrors, ServerErrors,
    ))]
pub async fn prices(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<PriceListView>, GatewayError> {
    let list = s
        .billing
        .clone()
        .get_price_list(s.as_caller(&c, pb::GetPriceListRequest {}))
        .await?
        .into_inner();
    Ok(Json(PriceListView::of(list)))
}

/// The workspace's use of every metric against its plan: AI credits this
/// month, messages today, numbers and seats in use.
#[utoipa::path(get, path = "/v1/billing/usage", operation_id = "billing_usage", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every metric, used and limit", body = DataList<UsageView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn usage(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<DataList<UsageView>>, GatewayError> {
    let report = s
        .billing
        .clone()
        .list_usage(s.as_caller(&c, pb::ListUsageRequest {}))
        .await?
        .into_inner();
    Ok(Json(DataList {
        data: report.usage.into_iter().map(UsageView::of).collect(),
    }))
}
