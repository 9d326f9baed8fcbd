//! What the detector watches: workspaces, API keys, client IPs and login
//! accounts, each with its own timelines.

use std::fmt;

/// The kind of thing a window, alert or mitigation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    /// A workspace.
    Tenant,
    /// An API key (by its id).
    ApiKey,
    /// A client IP address.
    Ip,
    /// A login account (by its keyed hash, never the address).
    Account,
    /// The whole platform (correlated waves across workspaces).
    Platform,
}

impl SubjectKind {
    /// Every kind, as stored and shown.
    pub const ALL: [SubjectKind; 5] = [
        SubjectKind::Tenant,
        SubjectKind::ApiKey,
        SubjectKind::Ip,
        SubjectKind::Account,
        SubjectKind::Platform,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Tenant => "tenant",
            SubjectKind::ApiKey => "api_key",
            SubjectKind::Ip => "ip",
            SubjectKind::Account => "account",
            SubjectKind::Platform => "platform",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One watched thing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    /// Its kind.
    pub kind: SubjectKind,
    /// Its id: a tenant or key id, an IP, an account hash.
    pub id: String,
}

impl Subject {
    /// The subject `id` of `kind`.
    pub fn new(kind: SubjectKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    /// Where its `series` timeline lives in the cache.
    pub fn timeline(&self, series: &str) -> String {
        format!("an:{}:{}:{series}", self.kind.as_str(), self.id)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}
