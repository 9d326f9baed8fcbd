//! Delivers password-reset links: consumes [`RESET_TOPIC`], decrypts the
//! token (bound to the user's tenant), and emails the link. A server that is
//! down is retried; an address it refuses for good is dead-lettered, never
//! dropped. A notice that outlived its token is not sent.

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::config::MailConfig;
use aerostic_kit::crypto::{Binding, KeyRing};
use aerostic_kit::mask::mask_email;

use crate::credentials::{RESET_TOKEN_COLUMN, RESET_TOPIC, ResetNotice};
use crate::mail::{Email, MailError, Mailer};

/// The queue reset notices wait in, declared even while mail is not
/// configured so none is lost.
pub fn queue() -> QueueSpec {
    QueueSpec::new("tenancy.reset_mail", &[RESET_TOPIC])
}

/// Sends reset emails.
pub struct ResetMailer {
    mailer: Mailer,
    keys: KeyRing,
    config: MailConfig,
}

impl ResetMailer {
    /// A sender through `config`'s mailer, opening tokens with `keys`.
    pub fn new(config: MailConfig, keys: KeyRing) -> Result<Self, MailError> {
        Ok(Self {
            mailer: Mailer::from_url(&config.url)?,
            keys,
            config,
        })
    }

    fn email<'a>(&self, notice: &'a ResetNotice, token: &str) -> Email<'a> {
        let minutes = (notice.expires_at - chrono::Utc::now())
            .num_minutes()
            .max(1);
        Email {
            to: &notice.email,
            subject: "Reset your password".into(),
            text: format!(
                "Someone asked to reset the password of this account.\n\n\
                 To choose a new password, open this link within {minutes} minutes:\n\n\
                 {}/reset-password?token={token}\n\n\
                 The link works once. If you did not ask for it, ignore this email: \
                 your password stays as it is.\n",
                self.config.app_url
            ),
        }
    }
}

#[async_trait::async_trait]
impl Handler for ResetMailer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let notice: ResetNotice = envelope.parse().map_err(HandlerError::permanent)?;
        if notice.expires_at <= chrono::Utc::now() {
            tracing::info!(to = %mask_email(&notice.email), "reset link expired before delivery; not sent");
            return Ok(());
        }
        let token = self
            .keys
            .decrypt(
                &notice.encrypted_token,
                Binding {
                    tenant: &notice.tenant_id,
                    column: RESET_TOKEN_COLUMN,
                },
            )
            .map_err(HandlerError::permanent)?;
        let token = String::from_utf8(token).map_err(HandlerError::permanent)?;
        match self
            .mailer
            .send(&self.config.from, self.email(&notice, &token))
            .await
        {
            Ok(()) => {
                tracing::info!(to = %mask_email(&notice.email), "reset link sent");
                Ok(())
            }
            Err(e @ MailError::Transient(_)) => Err(HandlerError::retry(e)),
            Err(e) => Err(HandlerError::permanent(e)),
        }
    }
}
