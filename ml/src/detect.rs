//! Detectors: a rule over a subject's window finds a candidate; the forest's
//! score confirms it. A rule names two levels: at `watch` the candidate
//! becomes an alert only if the window is also unusual against the baseline
//! (the score is above the model's threshold); at `act` (far beyond anything
//! ordinary) it does on its own. Either way the alert carries the detector's
//! mitigation. The forest never mitigates alone: a score says how unusual a
//! window is, a rule says what it is.

use std::time::Duration;

use crate::subject::{Subject, SubjectKind};
use crate::window::Window;

/// What the edge does about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MitigationKind {
    /// Let at most this many requests a minute through.
    Throttle {
        /// Requests a minute.
        per_minute: u32,
    },
    /// Refuse the API key.
    BlockKey,
    /// Refuse logins to the account.
    LockLogin,
}

impl MitigationKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MitigationKind::Throttle { .. } => "throttle",
            MitigationKind::BlockKey => "block_key",
            MitigationKind::LockLogin => "lock_login",
        }
    }

    /// The kind a stored name and limit stand for.
    pub fn parse(name: &str, per_minute: u32) -> Option<Self> {
        match name {
            "throttle" => Some(MitigationKind::Throttle { per_minute }),
            "block_key" => Some(MitigationKind::BlockKey),
            "lock_login" => Some(MitigationKind::LockLogin),
            _ => None,
        }
    }

    /// Its request limit (throttles only).
    pub fn per_minute(self) -> u32 {
        match self {
            MitigationKind::Throttle { per_minute } => per_minute,
            _ => 0,
        }
    }
}

/// A detector's verdict on one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which detector.
    pub detector: &'static str,
    /// What it is about.
    pub subject: Subject,
    /// The forest's score of the window.
    pub score: f64,
    /// What the edge should do, and for how long.
    pub mitigation: Option<(MitigationKind, Duration)>,
    /// What was seen, for people (no addresses: subjects are ids and hashes).
    pub detail: String,
}

struct Rule {
    name: &'static str,
    kind: SubjectKind,
    /// The measure the rule counts, with the levels.
    measure: fn(&Window) -> u64,
    /// Another condition the window must meet.
    shape: fn(&Window) -> bool,
    watch: u64,
    act: u64,
    mitigation: MitigationKind,
    lasts: Duration,
    describe: fn(&Window) -> String,
}

const MINUTES: u64 = 60;

/// Every rule, in the order they are tried (the first that fires wins).
const RULES: &[Rule] = &[
    Rule {
        name: "login_burst",
        kind: SubjectKind::Account,
        measure: |w| w.login_failures_1m,
        shape: |_| true,
        watch: 10,
        act: 20,
        mitigation: MitigationKind::LockLogin,
        lasts: Duration::from_secs(15 * MINUTES),
        describe: |w| format!("{} failed logins in a minute", w.login_failures_1m),
    },
    Rule {
        name: "credential_spray",
        kind: SubjectKind::Ip,
        measure: |w| w.login_failures_10m,
        shape: |w| w.peers_10m >= 5,
        watch: 20,
        act: 60,
        mitigation: MitigationKind::Throttle { per_minute: 30 },
        lasts: Duration::from_secs(15 * MINUTES),
        describe: |w| {
            format!(
                "{} failed logins in 10 minutes across {} accounts or workspaces",
                w.login_failures_10m, w.peers_10m
            )
        },
    },
    Rule {
        name: "key_scraping",
        kind: SubjectKind::ApiKey,
        measure: |w| w.calls_1m,
        shape: |w| w.reads_1m * 10 >= w.calls_1m * 8,
        watch: 300,
        act: 1200,
        mitigation: MitigationKind::Throttle { per_minute: 60 },
        lasts: Duration::from_secs(15 * MINUTES),
        describe: |w| {
            format!(
                "{} calls in a minute, {} of them reads",
                w.calls_1m, w.reads_1m
            )
        },
    },
    Rule {
        name: "key_probing",
        kind: SubjectKind::ApiKey,
        // Nearly every call refused, hundreds a minute: guessing ids or
        // credentials, not a buggy integration (whose errors come with
        // successes, and fewer).
        measure: |w| w.errors_1m,
        shape: |w| w.errors_1m * 10 >= w.calls_1m * 9,
        watch: 200,
        act: 600,
        mitigation: MitigationKind::BlockKey,
        lasts: Duration::from_secs(30 * MINUTES),
        describe: |w| {
            format!(
                "{} of {} calls in a minute refused",
                w.errors_1m, w.calls_1m
            )
        },
    },
    Rule {
        name: "forged_webhooks",
        kind: SubjectKind::Ip,
        measure: |w| w.signature_rejects_10m,
        shape: |_| true,
        watch: 50,
        act: 200,
        mitigation: MitigationKind::Throttle { per_minute: 30 },
        lasts: Duration::from_secs(15 * MINUTES),
        describe: |w| {
            format!(
                "{} webhooks with a bad signature in 10 minutes",
                w.signature_rejects_10m
            )
        },
    },
    Rule {
        name: "send_abuse",
        kind: SubjectKind::Tenant,
        measure: |w| w.sends_1m,
        shape: |w| {
            w.new_recipients_10m * 10 >= w.sends_10m * 8
                || w.send_failures_10m * 10 >= w.sends_10m * 3
        },
        watch: 300,
        act: 1500,
        mitigation: MitigationKind::Throttle { per_minute: 120 },
        lasts: Duration::from_secs(15 * MINUTES),
        describe: |w| {
            format!(
                "{} sends in a minute; of 10 minutes' {}, {} to new recipients and {} refused",
                w.sends_1m, w.sends_10m, w.new_recipients_10m, w.send_failures_10m
            )
        },
    },
];

/// The first rule `window` fires, confirmed by `anomalous` or past its act level.
pub fn evaluate(
    subject: &Subject,
    window: &Window,
    score: f64,
    anomalous: bool,
) -> Option<Finding> {
    RULES
        .iter()
        .filter(|r| r.kind == subject.kind && (r.shape)(window))
        .find(|r| {
            let measure = (r.measure)(window);
            measure >= r.act || (measure >= r.watch && anomalous)
        })
        .map(|r| Finding {
            detector: r.name,
            subject: subject.clone(),
            score,
            mitigation: Some((r.mitigation, r.lasts)),
            detail: (r.describe)(window),
        })
}

/// Whether a workspace's or an API key's window is a spike worth
/// correlating: calls or sends well above its own ten-minute rate, and
/// unusual against the baseline. Keys count too: one key of a busy
/// workspace can spike while the workspace's whole traffic barely moves.
pub fn is_spike(subject: &Subject, window: &Window, anomalous: bool) -> bool {
    matches!(subject.kind, SubjectKind::Tenant | SubjectKind::ApiKey)
        && anomalous
        && (window.calls_1m >= 60 || window.sends_1m >= 60)
        && window.features()[3] >= 5f64.ln()
}

/// Workspaces spiking within a minute that make a coordinated wave.
pub const WAVE_TENANTS: u64 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Subject {
        Subject::new(SubjectKind::Account, "h1")
    }

    #[test]
    fn a_rule_at_its_watch_level_needs_the_score_and_at_its_act_level_does_not() {
        let watch = Window {
            login_failures_1m: 12,
            ..Window::default()
        };
        assert_eq!(evaluate(&account(), &watch, 0.4, false), None);
        let found = evaluate(&account(), &watch, 0.7, true).unwrap();
        assert_eq!(found.detector, "login_burst");
        assert_eq!(found.mitigation.unwrap().0, MitigationKind::LockLogin);
        let act = Window {
            login_failures_1m: 25,
            ..Window::default()
        };
        assert_eq!(
            evaluate(&account(), &act, 0.4, false).unwrap().detail,
            "25 failed logins in a minute"
        );
    }

    #[test]
    fn rules_apply_only_to_their_kind_of_subject_and_shape() {
        let busy = Window {
            calls_1m: 2000,
            reads_1m: 100,
            ..Window::default()
        };
        let key = Subject::new(SubjectKind::ApiKey, "k1");
        // Mostly writes: not scraping.
        assert_eq!(evaluate(&key, &busy, 0.9, true), None);
        let scraping = Window {
            reads_1m: 1990,
            ..busy
        };
        assert_eq!(
            evaluate(&key, &scraping, 0.9, true).unwrap().detector,
            "key_scraping"
        );
        assert_eq!(
            evaluate(
                &Subject::new(SubjectKind::Tenant, "t"),
                &scraping,
                0.9,
                true
            ),
            None
        );
    }

    #[test]
    fn a_spike_is_a_workspace_far_above_its_own_rate() {
        let tenant = Subject::new(SubjectKind::Tenant, "t1");
        let spike = Window {
            calls_10s: 100,
            calls_1m: 100,
            calls_10m: 100,
            ..Window::default()
        };
        assert!(is_spike(&tenant, &spike, true));
        assert!(!is_spike(&tenant, &spike, false));
        let steady = Window {
            calls_10s: 10,
            calls_1m: 100,
            calls_10m: 1000,
            ..Window::default()
        };
        assert!(!is_spike(&tenant, &steady, true));
        assert!(is_spike(
            &Subject::new(SubjectKind::ApiKey, "k1"),
            &spike,
            true
        ));
        assert!(!is_spike(
            &Subject::new(SubjectKind::Ip, "198.51.100.7"),
            &spike,
            true
        ));
    }
}
