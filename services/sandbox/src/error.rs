//! Meta's error envelope, exactly as the Graph API answers:
//! `{"error":{"message","type","code","error_subcode"?,"error_data":{"messaging_product","details"},"fbtrace_id"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Graph API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    /// HTTP status Meta uses for this code.
    pub status: StatusCode,
    /// Meta's numeric code (e.g. 131047).
    pub code: u32,
    /// Graph-level subcode, where Meta still sends one.
    pub subcode: Option<u32>,
    /// `OAuthException` or `GraphMethodException`.
    pub kind: &'static str,
    /// The top-level message, e.g. `(#131009) Parameter value is not valid`.
    pub message: String,
    /// `error_data.details`, if any.
    pub details: Option<String>,
    /// Id of this failure, as Meta's support would ask for.
    pub fbtrace_id: String,
}

impl MetaError {
    /// An error with exactly `message` (Graph-level errors have no `(#code)` prefix).
    pub fn raw(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            subcode: None,
            kind: "OAuthException",
            message: message.into(),
            details: None,
            fbtrace_id: String::new(),
        }
    }

    /// An error with Meta's `(#code) message` form.
    pub fn coded(status: StatusCode, code: u32, message: &str) -> Self {
        Self::raw(status, code, format!("(#{code}) {message}"))
    }

    /// Adds a Graph-level subcode.
    pub fn subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// 2500: no access token at all.
    pub fn missing_token() -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            2500,
            "An active access token must be used to query information about the current user.",
        )
    }

    /// Adds `error_data.details`.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// 190: the token is missing, malformed, unknown or (subcode 463) expired.
    pub fn invalid_token(expired: bool) -> Self {
        let mut e = Self::raw(
            StatusCode::UNAUTHORIZED,
            190,
            if expired {
                "Error validating access token: Session has expired"
            } else {
                "Invalid OAuth access token - Cannot parse access token"
            },
        );
        e.subcode = expired.then_some(463);
        e
    }

    /// 100/33: the object does not exist or this token may not use it.
    pub fn unknown_object(id: &str) -> Self {
        let mut e = Self::raw(
            StatusCode::BAD_REQUEST,
            100,
            format!(
                "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing \
                 permissions, or does not support this operation. Please read the Graph API documentation at \
                 https://developers.facebook.com/docs/graph-api"
            ),
        );
        e.subcode = Some(33);
        e.kind = "GraphMethodException";
        e
    }

    /// 2500: a path the Graph API does not know.
    pub fn unknown_path(path: &str) -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            2500,
            format!("Unknown path components: {path}"),
        )
    }

    /// 100: a required parameter is missing or malformed.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            100,
            format!("(#100) {}", message.into()),
        )
    }

    /// 131009: a parameter has a value Meta does not accept.
    pub fn parameter_value(details: impl Into<String>) -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            131009,
            "(#131009) Parameter value is not valid",
        )
        .details(details)
    }

    /// 130429: the number's throughput is exceeded.
    pub fn throughput() -> Self {
        Self::raw(StatusCode::BAD_REQUEST, 130429, "(#130429) Rate limit hit")
            .details("Cloud API message throughput has been reached.")
    }

    /// 131056: too many messages to the same user.
    pub fn pair_limit() -> Self {
        Self::raw(StatusCode::BAD_REQUEST, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit")
            .details("Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.")
    }

    /// 131047: outside the 24-hour customer service window.
    pub fn re_engagement() -> Self {
        Self::raw(StatusCode::BAD_REQUEST, 131047, "(#131047) Re-engagement message").details(
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        )
    }

    /// 131050: the user stopped marketing messages from this business.
    pub fn marketing_opt_out() -> Self {
        Self::raw(StatusCode::BAD_REQUEST, 131050, "(#131050) Unable to deliver the message")
            .details("This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.")
    }

    /// 133010: the number is not registered for Cloud API.
    pub fn not_registered() -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            133010,
            "(#133010) Account not registered",
        )
    }

    /// 131051: a message type the Cloud API does not support.
    pub fn unsupported_type(kind: &str) -> Self {
        Self::raw(
            StatusCode::BAD_REQUEST,
            131051,
            "(#131051) Unsupported message type",
        )
        .details(format!("Message type '{kind}' is not supported."))
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": self.fbtrace_id,
        });
        if let Some(sub) = self.subcode {
            error["error_subcode"] = json!(sub);
        }
        if let Some(details) = &self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        json!({ "error": error })
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
