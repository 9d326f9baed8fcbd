//! What the sender does with each error Meta answers (META_API.md §6): one
//! table, decided on Meta's `code` (never its title), so that every send
//! path (the first try, a retry, a replay) reacts the same way.

use std::time::Duration;

/// The sender's reaction to a Meta error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Try again later, throttling the whole number (130429).
    ThrottleNumber,
    /// Try again later for this recipient only, after 4^attempt seconds
    /// (131056, the pair limit).
    BackOffRecipient,
    /// A passing fault at Meta: retry with backoff and jitter.
    Retry,
    /// The message cannot go as it is: fail it with the reason, no retry.
    Fail,
    /// The number's token is dead (190, 0): pause its queue until the
    /// tenant reconnects it; the message waits, it is not failed.
    Reauthenticate,
    /// Meta limits the account for spam or quality (131048): fail this one
    /// and pause the tenant's campaigns.
    PauseCampaigns,
    /// The account is locked or blocked (131031, 368, 130497): fail and
    /// stop the tenant's sending, alerting it.
    StopTenant,
}

/// The reaction to Meta's error `code`, answered with HTTP `status`.
pub fn react(code: i64, status: u16) -> Reaction {
    match code {
        130429 => Reaction::ThrottleNumber,
        131056 => Reaction::BackOffRecipient,
        // Unknown errors, service unavailable, maintenance, app call limits.
        1 | 2 | 4 | 80007 | 131000 | 131016 | 133004 | 131057 => Reaction::Retry,
        0 | 190 => Reaction::Reauthenticate,
        131048 => Reaction::PauseCampaigns,
        131031 | 368 | 130497 => Reaction::StopTenant,
        // A code we do not know: a server fault is worth retrying; anything
        // else would fail the same way again.
        _ if status >= 500 => Reaction::Retry,
        _ => Reaction::Fail,
    }
}

/// A human reason for `code`, for the tenant (Meta's message adds detail).
pub fn reason(code: i64) -> &'static str {
    match code {
        131047 => "more than 24 hours since the customer last wrote: send a template",
        131026 => {
            "the message could not be delivered: not on WhatsApp, an old app, or the number blocked the business"
        }
        131050 => "the customer stopped marketing messages",
        131049 => {
            "Meta limits marketing to this customer for now (healthy ecosystem): try in 24 hours"
        }
        131048 => "Meta limited the account for spam or low quality: campaigns are paused",
        131031 | 368 | 130497 => {
            "the WhatsApp account is locked or blocked for this country or policy"
        }
        131042 => "a payment method problem on the WhatsApp account",
        131051 => "Meta does not support this message type",
        131052 | 131053 => "the media could not be downloaded or uploaded (size or type)",
        132000 => "the template's parameters do not match its placeholders",
        132001 => "no approved template with this name and language",
        132005 | 132007 | 132012 => {
            "the template's text is too long, breaks policy, or a parameter has the wrong format"
        }
        132015 | 132016 => "the template is paused or disabled",
        130472 => "the customer is part of a Meta experiment",
        100 | 131008 | 131009 | 135000 | 131021 => "Meta refused a parameter of the message",
        0 | 190 => "the number's access token expired: reconnect it",
        130429 => "the number's throughput was exceeded",
        131056 => "too many messages to this customer in a short time",
        _ => "Meta refused the message",
    }
}

/// How long before retry `attempt` (0-based) of a message that met `reaction`,
/// before jitter: 4^attempt seconds for the pair limit (Meta's rule),
/// otherwise doubling from one second; capped at ten minutes.
pub fn backoff(reaction: Reaction, attempt: u32) -> Duration {
    let seconds = match reaction {
        Reaction::BackOffRecipient => 4u64.saturating_pow(attempt),
        _ => 2u64.saturating_pow(attempt),
    };
    Duration::from_secs(seconds.min(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_of_meta_errors_gets_its_documented_reaction() {
        assert_eq!(react(130429, 400), Reaction::ThrottleNumber);
        assert_eq!(react(131056, 400), Reaction::BackOffRecipient);
        for code in [131000, 131016, 133004, 131057, 1, 2] {
            assert_eq!(react(code, 500), Reaction::Retry, "{code}");
        }
        assert_eq!(react(190, 401), Reaction::Reauthenticate);
        assert_eq!(react(131048, 400), Reaction::PauseCampaigns);
        assert_eq!(react(131031, 403), Reaction::StopTenant);
        for code in [131047, 131026, 131050, 131051, 132000, 132001, 132015, 100] {
            assert_eq!(react(code, 400), Reaction::Fail, "{code}");
        }
        assert_eq!(
            react(999_999, 503),
            Reaction::Retry,
            "an unknown server fault"
        );
        assert_eq!(react(999_999, 400), Reaction::Fail);
    }

    #[test]
    fn the_pair_limit_backs_off_by_powers_of_four_and_nothing_waits_over_ten_minutes() {
        let waits: Vec<u64> = (0..4)
            .map(|x| backoff(Reaction::BackOffRecipient, x).as_secs())
            .collect();
        assert_eq!(waits, [1, 4, 16, 64]);
        assert_eq!(backoff(Reaction::Retry, 3).as_secs(), 8);
        assert_eq!(backoff(Reaction::BackOffRecipient, 30).as_secs(), 600);
    }

    #[test]
    fn reasons_speak_to_the_tenant() {
        assert!(reason(131047).contains("send a template"));
        assert_eq!(reason(424242), "Meta refused the message");
    }
}
