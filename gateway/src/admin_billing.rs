//! `/v1/admin/*` money: crediting a tenant's wallet, reading any wallet and a
//! reseller's earnings, and the price lists. Super admins on the admin host.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::PlatformAdmin;
use crate::billing_views::{LedgerEntryView, PriceListView, WalletView};
use crate::json::ApiJson;
use crate::openapi::{AdminErrors, BodyErrors, ServerErrors};
use crate::{AppState, GatewayError};

/// `POST /v1/admin/tenants/{id}/top-ups` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// Positive, in the wallet's minor units (cents for USD).
    #[serde(default)]
    #[schema(required = true, example = 5000)]
    amount_minor: i64,
    /// The payment's reference: a repeat credits nothing and answers the
    /// first entry.
    #[serde(default)]
    #[schema(required = true, example = "wire-2026-12-02-0042")]
    reference: String,
    /// A note for the ledger.
    #[serde(default)]
    note: String,
}

/// Credits a tenant's wallet, once per payment reference.
#[utoipa::path(post, operation_id = "admin_top_up", path = "/v1/admin/tenants/{id}/top-ups", tag = "admin",
    request_body = TopUpBody,
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ledger entry (the first one, for a repeated reference)", body = LedgerEntryView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn top_up(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TopUpBody>,
) -> Result<Json<LedgerEntryView>, GatewayError> {
    let entry = s
        .billing
        .clone()
        .top_up(s.as_caller(
            &c,
            pb::TopUpRequest {
                tenant_id: id,
                amount: Some(pb::Money {
                    currency: String::new(),
                    amount_minor: b.amount_minor,
                }),
                reference: b.reference,
                note: b.note,
            },
        ))
        .await?
        .into_inner();
    Ok(Json(LedgerEntryView::of(entry)))
}

/// A tenant's wallet.
#[utoipa::path(get, operation_id = "admin_tenant_wallet", path = "/v1/admin/tenants/{id}/wallet", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its balances and alert", body = WalletView),
        AdminErrors, ServerErrors,
    ))]
pub async fn tenant_wallet(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<WalletView>, GatewayError> {
    let w = s
        .billing
        .clone()
        .get_wallet(s.as_caller(&c, pb::GetWalletRequest { tenant_id: id }))
        .await?
        .into_inner();
    Ok(Json(WalletView::of(w)))
}

/// What a reseller earned.
#[derive(Serialize, ToSchema)]
pub struct ResellerWalletView {
    /// The reseller.
    pub reseller_id: String,
    /// ISO 4217.
    pub currency: String,
    /// Its markup on every settled message, less refunds, in minor units.
    pub earned_minor: i64,
}

/// A reseller's earnings from its markup.
#[utoipa::path(get, operation_id = "admin_reseller_wallet", path = "/v1/admin/resellers/{id}/wallet", tag = "admin",
    params(("id" = String, Path, description = "The reseller's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its earnings", body = ResellerWalletView),
        AdminErrors, ServerErrors,
    ))]
pub async fn reseller_wallet(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<ResellerWalletView>, GatewayError> {
    let w = s
        .billing
        .clone()
        .get_reseller_wallet(s.as_caller(&c, pb::GetResellerWalletRequest { reseller_id: id }))
        .await?
        .into_inner();
    let earned = w.earned.unwrap_or_default();
    Ok(Json(ResellerWalletView {
        reseller_id: w.reseller_id,
        currency: earned.currency,
        earned_minor: earned.amount_minor,
    }))
}

/// The platform's default price list.
#[utoipa::path(get, operation_id = "admin_prices", path = "/v1/admin/prices", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unit prices per category and country", body = PriceListView),
        AdminErrors, ServerErrors,
    ))]
pub async fn prices(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<PriceListView>, GatewayError> {
    let list = s
        .billing
        .clone()
        .get_price_list(s.as_caller(&c, pb::GetPriceListRequest {}))
        .await?
        .into_inner();
    Ok(Json(PriceListView::of(list)))
}

/// `PUT /v1/admin/prices` and `/v1/admin/tenants/{id}/prices` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    /// `marketing`, `utility`, `authentication`,
    /// `authentication-international` or `service`.
    #[serde(default)]
    #[schema(required = true, example = "marketing")]
    category: String,
    /// ISO 3166-1 alpha-2 of the recipient, or `*` for any country.
    #[serde(default)]
    #[schema(required = true, example = "BR")]
    country: String,
    /// A template's name (tenant prices only), or empty for any.
    #[serde(default)]
    template_name: String,
    /// Per message, in the wallet's minor units (0 or more).
    #[serde(default)]
    #[schema(required = true, example = 6)]
    unit_price_minor: i64,
}

async fn set_price(
    s: AppState,
    c: aerostic_kit::identity::Identity,
    tenant_id: String,
    b: PriceBody,
) -> Result<Json<PriceListView>, GatewayError> {
    let list = s
        .billing
        .clone()
        .set_price(s.as_caller(
            &c,
            pb::SetPriceRequest {
                tenant_id,
                price: Some(pb::Price {
                    category: b.category,
                    country: b.country,
                    template_name: b.template_name,
                    unit_price: Some(pb::Money {
                        currency: String::new(),
                        amount_minor: b.unit_price_minor,
                    }),
                }),
            },
        ))
        .await?
        .into_inner();
    Ok(Json(PriceListView::of(list)))
}

/// Sets a price of the default list (replacing the same category, country).
#[utoipa::path(put, operation_id = "admin_set_price", path = "/v1/admin/prices", tag = "admin",
    request_body = PriceBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The default list after", body = PriceListView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn set_default_price(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(b): ApiJson<PriceBody>,
) -> Result<Json<PriceListView>, GatewayError> {
    set_price(s, c, String::new(), b).await
}

/// Sets a tenant's own price (by category, country and optionally template),
/// which wins over the default list.
#[utoipa::path(put, operation_id = "admin_set_tenant_price", path = "/v1/admin/tenants/{id}/prices", tag = "admin",
    request_body = PriceBody,
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's overrides after", body = PriceListView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn set_tenant_price(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PriceBody>,
) -> Result<Json<PriceListView>, GatewayError> {
    set_price(s, c, id, b).await
}
