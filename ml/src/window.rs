//! Sliding windows: which timelines each signal marks, the counts read back
//! for a subject, and the feature vector the forest scores.
//!
//! Every subject has the same timelines (`call`, `err`, `read`, …) and the
//! same sixteen features, so one platform-wide model compares a key with
//! keys, an IP with IPs: the kinds differ in which features move, and the
//! baseline holds windows of every kind.

use aerostic_kit::cache::{Mark, MarkCount, Marked};
use aerostic_kit::signals::{Signal, SignalKind};

use crate::subject::{Subject, SubjectKind};

/// How long timelines are kept: the longest window.
pub const HORIZON_MS: i64 = 600_000;

/// The features, in the order the model sees them.
pub const FEATURES: [&str; 16] = [
    "calls_10s",
    "calls_1m",
    "calls_10m",
    "burst",
    "error_ratio_1m",
    "read_share_1m",
    "login_failures_1m",
    "login_failures_10m",
    "login_failure_ratio_10m",
    "sends_1m",
    "send_failure_ratio_10m",
    "recipients_10m",
    "template_share_10m",
    "new_recipient_ratio_10m",
    "signature_rejects_10m",
    "peers_10m",
];

/// The counts of one subject's window, as read from its timelines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// API calls in the last 10 s.
    pub calls_10s: u64,
    /// API calls in the last minute.
    pub calls_1m: u64,
    /// API calls in the last 10 minutes.
    pub calls_10m: u64,
    /// Calls answered 4xx or 5xx in the last minute.
    pub errors_1m: u64,
    /// `GET` calls in the last minute.
    pub reads_1m: u64,
    /// Failed logins in the last minute.
    pub login_failures_1m: u64,
    /// Failed logins in the last 10 minutes.
    pub login_failures_10m: u64,
    /// Successful logins in the last 10 minutes.
    pub logins_ok_10m: u64,
    /// Messages sent in the last minute.
    pub sends_1m: u64,
    /// Messages sent in the last 10 minutes.
    pub sends_10m: u64,
    /// Sends Meta refused in the last 10 minutes.
    pub send_failures_10m: u64,
    /// Distinct recipients in the last 10 minutes.
    pub recipients_10m: u64,
    /// Template sends in the last 10 minutes.
    pub templates_10m: u64,
    /// Sends to recipients never messaged before, last 10 minutes.
    pub new_recipients_10m: u64,
    /// Webhooks with a bad signature in the last 10 minutes.
    pub signature_rejects_10m: u64,
    /// Distinct counterparts in the last 10 minutes: IPs of a workspace, key
    /// or account; workspaces and accounts of an IP.
    pub peers_10m: u64,
}

/// Each count read: its name (a [`Window`] field), timeline and span, in
/// [`Window`]'s field order.
const READS: [(&str, &str, i64); 16] = [
    ("calls_10s", "call", 10_000),
    ("calls_1m", "call", 60_000),
    ("calls_10m", "call", 600_000),
    ("errors_1m", "err", 60_000),
    ("reads_1m", "read", 60_000),
    ("login_failures_1m", "lf", 60_000),
    ("login_failures_10m", "lf", 600_000),
    ("logins_ok_10m", "lok", 600_000),
    ("sends_1m", "snd", 60_000),
    ("sends_10m", "snd", 600_000),
    ("send_failures_10m", "sf", 600_000),
    ("recipients_10m", "rcp", 600_000),
    ("templates_10m", "tpl", 600_000),
    ("new_recipients_10m", "new", 600_000),
    ("signature_rejects_10m", "sig", 600_000),
    ("peers_10m", "peer", 600_000),
];

/// How many counts make a window.
pub const COUNTS: usize = READS.len();

/// The name of read `i` (the [`Window`] field it fills).
pub fn count_name(i: usize) -> &'static str {
    READS[i].0
}

/// Whether read `i` of [`READS`] spans ten minutes. Those change slowly and
/// cost the most (600 one-second buckets each), so the service refreshes
/// them less often than the short ones.
pub fn is_long(i: usize) -> bool {
    READS[i].2 > 60_000
}

/// Read `i` of `subject`'s window ending at `now_ms`.
pub fn read(subject: &Subject, i: usize, now_ms: i64) -> MarkCount {
    let (_, series, span) = READS[i];
    MarkCount {
        key: subject.timeline(series),
        since_ms: now_ms - span,
    }
}

impl Window {
    /// The window from the answers to [`read`] 0 to 15, in order.
    pub fn from_counts(c: &[u64]) -> Self {
        let at = |i: usize| c.get(i).copied().unwrap_or(0);
        Self {
            calls_10s: at(0),
            calls_1m: at(1),
            calls_10m: at(2),
            errors_1m: at(3),
            reads_1m: at(4),
            login_failures_1m: at(5),
            login_failures_10m: at(6),
            logins_ok_10m: at(7),
            sends_1m: at(8),
            sends_10m: at(9),
            send_failures_10m: at(10),
            recipients_10m: at(11),
            templates_10m: at(12),
            new_recipients_10m: at(13),
            signature_rejects_10m: at(14),
            peers_10m: at(15),
        }
    }

    /// The features the model scores, named by [`FEATURES`]. Counts go in as
    /// ln(1 + n), so a busy workspace and a quiet one differ by their shape
    /// more than by their size.
    pub fn features(&self) -> [f64; 16] {
        let log = |n: u64| (n as f64).ln_1p();
        let ratio = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        // Calls a second over 10 s against over 10 min (1 when steady).
        let burst = (self.calls_10s as f64 / 10.0 + 0.1) / (self.calls_10m as f64 / 600.0 + 0.1);
        [
            log(self.calls_10s),
            log(self.calls_1m),
            log(self.calls_10m),
            burst.ln(),
            ratio(self.errors_1m, self.calls_1m),
            ratio(self.reads_1m, self.calls_1m),
            log(self.login_failures_1m),
            log(self.login_failures_10m),
            ratio(
                self.login_failures_10m,
                self.login_failures_10m + self.logins_ok_10m,
            ),
            log(self.sends_1m),
            ratio(self.send_failures_10m, self.sends_10m),
            log(self.recipients_10m),
            ratio(self.templates_10m, self.sends_10m),
            ratio(self.new_recipients_10m, self.sends_10m),
            log(self.signature_rejects_10m),
            log(self.peers_10m),
        ]
    }
}

/// The marks one signal leaves, and the subjects whose windows it changes.
pub fn marks(signal: &Signal, out: &mut Vec<Mark>, touched: &mut Vec<(Subject, Option<String>)>) {
    let at_ms = signal.at_ms;
    let tenant = signal.tenant_id.clone();
    let event = |subject: &Subject, series: &str, out: &mut Vec<Mark>| {
        out.push(Mark {
            key: subject.timeline(series),
            what: Marked::Event,
            at_ms,
        })
    };
    let member = |subject: &Subject, series: &str, member: &str, out: &mut Vec<Mark>| {
        out.push(Mark {
            key: subject.timeline(series),
            what: Marked::Member(member.to_string()),
            at_ms,
        })
    };
    let workspace = signal
        .tenant_id
        .as_deref()
        .map(|t| Subject::new(SubjectKind::Tenant, t));
    let key = signal
        .api_key_id
        .as_deref()
        .map(|k| Subject::new(SubjectKind::ApiKey, k));
    let ip = signal
        .ip
        .as_deref()
        .map(|i| Subject::new(SubjectKind::Ip, i));
    match &signal.kind {
        SignalKind::ApiCall { method, status, .. } => {
            for subject in [&workspace, &key, &ip].into_iter().flatten() {
                event(subject, "call", out);
                if *status >= 400 {
                    event(subject, "err", out);
                }
                if method == "GET" {
                    event(subject, "read", out);
                }
                touched.push((subject.clone(), tenant.clone()));
            }
            if let Some(ip_id) = &signal.ip {
                for subject in [&workspace, &key].into_iter().flatten() {
                    member(subject, "peer", ip_id, out);
                }
            }
            if let (Some(ip), Some(t)) = (&ip, &signal.tenant_id) {
                member(ip, "peer", &format!("t:{t}"), out);
            }
        }
        SignalKind::Login { account, ok } => {
            let person = Subject::new(SubjectKind::Account, account);
            let series = if *ok { "lok" } else { "lf" };
            for subject in [Some(&person), workspace.as_ref(), ip.as_ref()]
                .into_iter()
                .flatten()
            {
                event(subject, series, out);
                touched.push((subject.clone(), tenant.clone()));
            }
            if let Some(ip_id) = &signal.ip {
                member(&person, "peer", ip_id, out);
            }
            if let Some(ip) = &ip {
                member(ip, "peer", &format!("a:{account}"), out);
            }
        }
        SignalKind::Send {
            recipient,
            template,
            new_recipient,
            ok,
        } => {
            for subject in [&workspace, &key].into_iter().flatten() {
                event(subject, "snd", out);
                if !ok {
                    event(subject, "sf", out);
                }
                if *template {
                    event(subject, "tpl", out);
                }
                if *new_recipient {
                    event(subject, "new", out);
                }
                member(subject, "rcp", recipient, out);
                touched.push((subject.clone(), tenant.clone()));
            }
        }
        SignalKind::SignatureRejected => {
            if let Some(ip) = &ip {
                event(ip, "sig", out);
                touched.push((ip.clone(), None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_window_is_all_zeros_but_a_steady_burst() {
        let features = Window::default().features();
        assert_eq!(features.len(), FEATURES.len());
        assert!(features.iter().all(|f| *f == 0.0));
    }

    #[test]
    fn ratios_and_logs_follow_the_counts() {
        let w = Window {
            calls_10s: 100,
            calls_1m: 100,
            calls_10m: 100,
            errors_1m: 50,
            reads_1m: 100,
            ..Window::default()
        };
        let f = w.features();
        assert_eq!(f[4], 0.5);
        assert_eq!(f[5], 1.0);
        assert!((f[1] - 101f64.ln()).abs() < 1e-12);
        // 10 calls/s now against 0.17/s over ten minutes.
        assert!(f[3] > 3.0);
    }

    #[test]
    fn a_call_marks_its_workspace_key_and_ip_and_a_failed_login_its_account() {
        let mut marks_out = Vec::new();
        let mut touched = Vec::new();
        let call = Signal::now(SignalKind::ApiCall {
            method: "GET".into(),
            route: "/v1/contacts".into(),
            status: 404,
        })
        .tenant("t1")
        .api_key(Some("k1"))
        .ip(Some("198.51.100.7".into()));
        marks(&call, &mut marks_out, &mut touched);
        let keys: Vec<&str> = marks_out.iter().map(|m| m.key.as_str()).collect();
        for expected in [
            "an:tenant:t1:call",
            "an:api_key:k1:err",
            "an:ip:198.51.100.7:read",
            "an:api_key:k1:peer",
            "an:ip:198.51.100.7:peer",
        ] {
            assert!(keys.contains(&expected), "{expected} in {keys:?}");
        }
        assert_eq!(touched.len(), 3);

        marks_out.clear();
        touched.clear();
        let login = Signal::now(SignalKind::Login {
            account: "h1".into(),
            ok: false,
        })
        .ip(Some("198.51.100.7".into()));
        marks(&login, &mut marks_out, &mut touched);
        assert!(marks_out.iter().any(|m| m.key == "an:account:h1:lf"));
        assert!(touched.iter().any(|(s, _)| s.kind == SubjectKind::Account));
    }
}
