//! The few Graph API calls onboarding makes, and how their errors read to
//! our users. Tokens travel only in `Authorization` headers or the code
//! exchange's query (as Meta requires), never in logs.

use std::time::Duration;

use aerostic_kit::config::MetaConfig;
use aerostic_kit::{ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

/// A Graph API client for the platform's Meta app.
#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    config: MetaConfig,
}

/// What Meta says about a phone number.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneNumber {
    /// The phone-number id.
    pub id: String,
    /// As Meta formats it.
    #[serde(default)]
    pub display_phone_number: String,
    /// The business name Meta verified.
    #[serde(default)]
    pub verified_name: String,
}

#[derive(Deserialize)]
struct MetaErrorBody {
    error: MetaErrorDetail,
}

#[derive(Deserialize)]
struct MetaErrorDetail {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "Meta unreachable");
    ApiError::new(
        ErrorKind::Unavailable,
        "meta_unavailable",
        "Meta did not answer; try again shortly",
    )
}

/// Our error for Meta's (`code`, `subcode`).
pub fn meta_error(code: i64, subcode: Option<i64>) -> ApiError {
    let e = |kind, c: &str, m: &str| {
        ApiError::new(kind, c, m).with_detail("meta_code", code.to_string())
    };
    match (code, subcode) {
        (100, Some(36007)) | (100, Some(36009)) => e(
            ErrorKind::InvalidArgument,
            "signup_code_invalid",
            "the Embedded Signup code expired or was used; run the signup again",
        ),
        (190, _) => e(
            ErrorKind::FailedPrecondition,
            "meta_token_invalid",
            "Meta refused the access token (expired or revoked)",
        ),
        (133005, _) => e(
            ErrorKind::InvalidArgument,
            "wrong_pin",
            "the two-step verification PIN does not match this number's",
        )
        .with_detail("pin", "does not match"),
        (133016, _) => e(
            ErrorKind::RateLimited,
            "register_rate_limited",
            "this number was registered too often; Meta allows 10 times in 72 hours",
        ),
        (100, _) | (200, _) | (10, _) => e(
            ErrorKind::FailedPrecondition,
            "meta_rejected",
            "Meta refused: the app cannot reach this WhatsApp account or number",
        ),
        _ => e(
            ErrorKind::Unavailable,
            "meta_error",
            "Meta answered with an error; try again shortly",
        ),
    }
}

impl Graph {
    /// A client for `config`.
    pub fn new(config: MetaConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a TLS-capable HTTP client");
        Self { http, config }
    }

    /// The app's configuration.
    pub fn config(&self) -> &MetaConfig {
        &self.config
    }

    fn url(&self, version: &str, path: &str) -> String {
        format!("{}/{version}/{path}", self.config.graph_url)
    }

    async fn answer(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, ApiError> {
        let resp = sent.map_err(unavailable)?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(unavailable)?;
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_value::<MetaErrorBody>(body) {
            Ok(b) => Err(meta_error(b.error.code, b.error.error_subcode)),
            Err(_) => Err(unavailable(format!(
                "Meta answered {status} without an error body"
            ))),
        }
    }

    /// Exchanges an Embedded Signup code for the business's token.
    pub async fn exchange_code(&self, version: &str, code: &str) -> Result<String, ApiError> {
        let sent = self
            .http
            .get(self.url(version, "oauth/access_token"))
            .query(&[
                ("client_id", self.config.app_id.as_str()),
                ("client_secret", self.config.app_secret.as_str()),
                ("code", code),
            ])
            .send()
            .await;
        let body = self.answer(sent).await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| unavailable("code exchange answered no access_token"))
    }

    /// The WABAs `token` may manage (`debug_token`'s granular scopes), or
    /// `meta_token_invalid` when Meta says it is not valid.
    pub async fn token_wabas(&self, version: &str, token: &str) -> Result<Vec<String>, ApiError> {
        let app_token = format!("{}|{}", self.config.app_id, self.config.app_secret);
        let sent = self
            .http
            .get(self.url(version, "debug_token"))
            .bearer_auth(app_token)
            .query(&[("input_token", token)])
            .send()
            .await;
        let body = self.answer(sent).await?;
        let data = &body["data"];
        if data["is_valid"] != json!(true) {
            return Err(meta_error(190, None));
        }
        Ok(data["granular_scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["scope"] == "whatsapp_business_management")
            .flat_map(|s| s["target_ids"].as_array().cloned().unwrap_or_default())
            .filter_map(|id| id.as_str().map(str::to_string))
            .collect())
    }

    /// Subscribes the platform's app to the WABA's webhooks.
    pub async fn subscribe_app(
        &self,
        version: &str,
        token: &str,
        waba_id: &str,
    ) -> Result<(), ApiError> {
        let sent = self
            .http
            .post(self.url(version, &format!("{waba_id}/subscribed_apps")))
            .bearer_auth(token)
            .send()
            .await;
        self.answer(sent).await.map(|_| ())
    }

    /// Registers the number for Cloud API with its two-step PIN.
    pub async fn register(
        &self,
        version: &str,
        token: &str,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), ApiError> {
        let sent = self
            .http
            .post(self.url(version, &format!("{phone_number_id}/register")))
            .bearer_auth(token)
            .json(&json!({"messaging_product": "whatsapp", "pin": pin}))
            .send()
            .await;
        self.answer(sent).await.map(|_| ())
    }

    /// A number's details.
    pub async fn phone_number(
        &self,
        version: &str,
        token: &str,
        phone_number_id: &str,
    ) -> Result<PhoneNumber, ApiError> {
        let sent = self
            .http
            .get(self.url(version, phone_number_id))
            .bearer_auth(token)
            .query(&[("fields", "id,display_phone_number,verified_name")])
            .send()
            .await;
        let body = self.answer(sent).await?;
        serde_json::from_value(body).map_err(unavailable)
    }

    /// The numbers of a WABA.
    pub async fn phone_numbers(
        &self,
        version: &str,
        token: &str,
        waba_id: &str,
    ) -> Result<Vec<PhoneNumber>, ApiError> {
        let sent = self
            .http
            .get(self.url(version, &format!("{waba_id}/phone_numbers")))
            .bearer_auth(token)
            .send()
            .await;
        let body = self.answer(sent).await?;
        serde_json::from_value(body["data"].clone()).map_err(unavailable)
    }
}
