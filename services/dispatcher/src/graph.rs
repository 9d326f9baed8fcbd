//! The Graph API calls of the send path (META_API.md §5): a message out, a
//! mark-as-read and any other call ([`Graph::call`], templates), each
//! answered with Meta's answer or Meta's error as a typed value that
//! [`crate::meta_errors`] turns into the sender's reaction.

use std::time::Duration;

use serde_json::{Value, json};

use crate::meta_errors::{self, Reaction};

/// How long a Graph call may take. A call that times out may still have
/// been accepted by Meta; the sender's retry can then send twice, which is
/// why a timeout is retried only once the number's queue allows it
/// (ARCHITECTURE.md, outbound).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A number's credentials for the Graph API.
#[derive(Clone)]
pub struct Credentials {
    /// The bearer token.
    pub token: String,
    /// The Graph version, e.g. `v23.0`.
    pub version: String,
}

/// What Meta answered to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The message's id at Meta.
    pub wamid: String,
    /// The recipient as Meta resolved it (may differ from what was sent,
    /// e.g. Brazilian and Mexican numbers).
    pub wa_id: Option<String>,
    /// `accepted` or `held_for_quality_assessment`, for paced templates.
    pub message_status: Option<String>,
}

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with an error.
    #[error("Meta error {code} (HTTP {status}): {message}")]
    Meta {
        /// The HTTP status.
        status: u16,
        /// Meta's `error.code`.
        code: i64,
        /// Meta's `error.message`.
        message: String,
        /// Meta's `error.error_data.details`, when given.
        details: String,
        /// Meta's `fbtrace_id`, for its support.
        trace: String,
    },
    /// No answer, or not Meta's shape.
    #[error("the Graph API could not be reached: {0}")]
    Transport(String),
}

impl GraphError {
    /// What the sender does about it.
    pub fn reaction(&self) -> Reaction {
        match self {
            Self::Meta { code, status, .. } => meta_errors::react(*code, *status),
            Self::Transport(_) => Reaction::Retry,
        }
    }

    /// Meta's code, when Meta answered.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Meta { code, .. } => Some(*code),
            Self::Transport(_) => None,
        }
    }
}

/// A Graph API client.
#[derive(Clone)]
pub struct Graph {
    base: String,
    http: reqwest::Client,
}

impl Graph {
    /// A client of the Graph API at `base` (`https://graph.facebook.com`,
    /// or the sandbox).
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .expect("a client with a timeout builds"),
        }
    }

    /// Sends Meta's message `body` from `phone_number_id`.
    pub async fn send(
        &self,
        credentials: &Credentials,
        phone_number_id: &str,
        body: &Value,
    ) -> Result<Accepted, GraphError> {
        let answer = self.post(credentials, phone_number_id, body).await?;
        let message = &answer["messages"][0];
        let wamid = message["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GraphError::Transport(format!("no wamid in Meta's answer: {answer}")))?;
        Ok(Accepted {
            wamid: wamid.to_string(),
            wa_id: answer["contacts"][0]["wa_id"].as_str().map(str::to_string),
            message_status: message["message_status"].as_str().map(str::to_string),
        })
    }

    /// Marks the customer's message `wamid` (and the ones before it) read,
    /// showing a typing indicator if `typing`.
    pub async fn mark_read(
        &self,
        credentials: &Credentials,
        phone_number_id: &str,
        wamid: &str,
        typing: bool,
    ) -> Result<(), GraphError> {
        let mut body =
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid});
        if typing {
            body["typing_indicator"] = json!({"type": "text"});
        }
        let answer = self.post(credentials, phone_number_id, &body).await?;
        if answer["success"] == true {
            Ok(())
        } else {
            Err(GraphError::Transport(format!(
                "Meta did not confirm: {answer}"
            )))
        }
    }

    /// Uploads media for `phone_number_id` to send: Meta's media id.
    pub async fn upload_media(
        &self,
        credentials: &Credentials,
        phone_number_id: &str,
        mime_type: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, GraphError> {
        let name = if filename.is_empty() {
            "file"
        } else {
            filename
        };
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(mime_type)
            .map_err(|e| GraphError::Transport(format!("media type {mime_type:?}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_string())
            .part("file", part);
        let url = format!(
            "{}/{}/{phone_number_id}/media",
            self.base, credentials.version
        );
        let response = self
            .http
            .post(&url)
            .bearer_auth(&credentials.token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        let answer = answer_of(response).await?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| GraphError::Transport(format!("no media id in Meta's answer: {answer}")))
    }

    async fn post(
        &self,
        credentials: &Credentials,
        phone_number_id: &str,
        body: &Value,
    ) -> Result<Value, GraphError> {
        let path = format!("{phone_number_id}/messages");
        self.call(reqwest::Method::POST, credentials, &path, &[], Some(body))
            .await
    }

    /// Any Graph call: `method` on `/{version}/{path}` with `query` and a
    /// JSON `body`, answered with Meta's JSON or Meta's error.
    pub async fn call(
        &self,
        method: reqwest::Method,
        credentials: &Credentials,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, GraphError> {
        let url = format!("{}/{}/{path}", self.base, credentials.version);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&credentials.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        answer_of(response).await
    }
}

/// Meta's JSON answer, or Meta's error.
async fn answer_of(response: reqwest::Response) -> Result<Value, GraphError> {
    let status = response.status().as_u16();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| GraphError::Transport(format!("HTTP {status}, not JSON: {e}")))?;
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    let error = &answer["error"];
    let Some(code) = error["code"].as_i64() else {
        return Err(GraphError::Transport(format!(
            "HTTP {status} without Meta's error: {answer}"
        )));
    };
    Err(GraphError::Meta {
        status,
        code,
        message: error["message"].as_str().unwrap_or_default().to_string(),
        details: error["error_data"]["details"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        trace: error["fbtrace_id"].as_str().unwrap_or_default().to_string(),
    })
}
