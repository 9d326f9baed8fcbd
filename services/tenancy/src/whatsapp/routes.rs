//! Which tenant a number or WABA belongs to, and what to call Meta with
//! for a connected number: the dispatcher's routing and credentials.

use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{ROUTE_TTL, Route, WhatsApp, graph_id, route_key};
use crate::entity::whatsapp_account;
use crate::tenants::find_tenant;

impl WhatsApp {
    /// Which tenant a connected number belongs to (the dispatcher's inbound
    /// routing), from the cache for [`ROUTE_TTL`].
    pub async fn resolve(&self, phone_number_id: &str) -> Result<Route, ApiError> {
        let id =
            graph_id(phone_number_id).map_err(|p| ApiError::invalid_field("phone_number_id", p))?;
        let key = route_key(&id);
        if let Ok(Some(bytes)) = self.cache.get(&key).await
            && let Ok(route) = serde_json::from_slice::<Route>(&bytes)
        {
            return Ok(route);
        }
        let route = self
            .route_where(
                whatsapp_account::Column::PhoneNumberId,
                &id,
                (
                    "number_not_connected",
                    "no workspace has this number connected",
                ),
            )
            .await?;
        let bytes = serde_json::to_vec(&route).expect("serialisable");
        if let Err(e) = self.cache.set(&key, &bytes, Some(ROUTE_TTL)).await {
            tracing::warn!(error = %e, "could not cache a number's route");
        }
        Ok(route)
    }

    /// Which tenant a WABA belongs to (template, quality and account
    /// webhooks name no number): the owner of its connected numbers.
    pub async fn resolve_waba(&self, waba_id: &str) -> Result<Route, ApiError> {
        let id = graph_id(waba_id).map_err(|p| ApiError::invalid_field("waba_id", p))?;
        self.route_where(
            whatsapp_account::Column::WabaId,
            &id,
            (
                "waba_not_connected",
                "no workspace has a number of this WABA connected",
            ),
        )
        .await
    }

    /// The token and Graph version to call Meta with for connected number
    /// `phone_number_id` (or, without one, any connected number of
    /// `waba_id`), and its WABA.
    pub async fn credentials(
        &self,
        phone_number_id: &str,
        waba_id: &str,
    ) -> Result<(String, String, String), ApiError> {
        let (column, field, raw) = if phone_number_id.is_empty() && !waba_id.is_empty() {
            (whatsapp_account::Column::WabaId, "waba_id", waba_id)
        } else {
            (
                whatsapp_account::Column::PhoneNumberId,
                "phone_number_id",
                phone_number_id,
            )
        };
        let id = graph_id(raw).map_err(|p| ApiError::invalid_field(field, p))?;
        let account = self
            .connected(
                column,
                &id,
                (
                    "number_not_connected",
                    "no workspace has this number connected",
                ),
            )
            .await?;
        let token = self.token_for(&account).await?;
        Ok((token, self.version().await?, account.waba_id))
    }

    /// The connected account whose `column` is `id`, or `missing` (code,
    /// message) as a 404.
    async fn connected(
        &self,
        column: whatsapp_account::Column,
        id: &str,
        missing: (&str, &str),
    ) -> Result<whatsapp_account::Model, ApiError> {
        whatsapp_account::Entity::find()
            .filter(column.eq(id))
            .filter(whatsapp_account::Column::Status.eq("connected"))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, missing.0, missing.1))
    }

    /// The route of the connected account whose `column` is `id`, or
    /// `missing` (code, message) as a 404.
    async fn route_where(
        &self,
        column: whatsapp_account::Column,
        id: &str,
        missing: (&str, &str),
    ) -> Result<Route, ApiError> {
        let account = self.connected(column, id, missing).await?;
        let tenant = find_tenant(&self.db, &account.tenant_id).await?;
        Ok(Route {
            tenant_id: account.tenant_id,
            account_id: account.id,
            tenant_status: tenant.status,
            waba_id: account.waba_id,
        })
    }
}
