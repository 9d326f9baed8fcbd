//! Outgoing email: SMTP in production, a directory of `.eml` files in
//! development and tests (a real backend, read like a mailbox).

use lettre::message::{Mailbox, Message};
use lettre::transport::file::AsyncFileTransport;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Tokio1Executor};

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `AEROSTIC_MAIL_URL` or `AEROSTIC_MAIL_FROM` is unusable.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The message could not be built (e.g. an unusable address).
    #[error("message: {0}")]
    Message(String),
    /// The SMTP server refused for good (5xx): retrying will not help.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The server or disk failed for now; retry later.
    #[error("transient: {0}")]
    Transient(String),
}

/// An email to send.
pub struct Email<'a> {
    /// Recipient address.
    pub to: &'a str,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per email in a directory.
    Directory(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

impl Mailer {
    /// The mailer `url` names: `smtp://`, `smtps://` or `file:///dir`.
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        if let Some(dir) = url.strip_prefix("file://") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| MailError::Config(format!("{}: {e}", dir.display())))?;
            return Ok(Self::Directory(AsyncFileTransport::new(&dir), dir));
        }
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .build();
        Ok(Self::Smtp(smtp))
    }

    /// Sends `email` from `from`.
    pub async fn send(&self, from: &str, email: Email<'_>) -> Result<(), MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Config(format!("AEROSTIC_MAIL_FROM: {e}")))?;
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject)
            .body(email.text)
            .map_err(|e| MailError::Message(e.to_string()))?;
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    MailError::Rejected(e.to_string())
                } else {
                    MailError::Transient(e.to_string())
                }
            }),
            Self::Directory(files, _) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transient(e.to_string())),
        }
    }
}
