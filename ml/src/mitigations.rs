//! The mitigations in force, held in memory for the gateway's polls and
//! reloaded from the database every [`RELOAD`] (so what another replica
//! applied, or an admin lifted, arrives here too).
//!
//! A poll carries the revision it last saw; the revision is a digest of the
//! set in force (ids and expiries), so every replica holding the same set
//! answers the same revision, and an expiry changes it without any write.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::detect::MitigationKind;
use crate::subject::Subject;

/// How often the set is reloaded from the database.
pub const RELOAD: Duration = Duration::from_secs(1);

/// One mitigation in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    /// Its id.
    pub id: String,
    /// The alert that raised it.
    pub alert_id: String,
    /// What the edge does.
    pub kind: MitigationKind,
    /// To whom.
    pub subject: Subject,
    /// The workspace it concerns, if any.
    pub tenant_id: Option<String>,
    /// Until when.
    pub expires_at: DateTime<Utc>,
}

/// The set in force.
#[derive(Default)]
pub struct Mitigations {
    set: RwLock<Vec<Active>>,
}

impl Mitigations {
    /// Those in force at `now`, and their revision.
    pub fn in_force(&self, now: DateTime<Utc>) -> (String, Vec<Active>) {
        let mut active: Vec<Active> = self
            .set
            .read()
            .expect("mitigations lock")
            .iter()
            .filter(|m| m.expires_at > now)
            .cloned()
            .collect();
        active.sort_by(|a, b| a.id.cmp(&b.id));
        let mut digest = DefaultHasher::new();
        for m in &active {
            m.id.hash(&mut digest);
            m.expires_at.timestamp_millis().hash(&mut digest);
        }
        (format!("r{:016x}", digest.finish()), active)
    }

    /// Whether `subject` already has a mitigation of `kind` in force.
    pub fn has(&self, subject: &Subject, kind: MitigationKind, now: DateTime<Utc>) -> bool {
        self.set.read().expect("mitigations lock").iter().any(|m| {
            &m.subject == subject && m.kind.as_str() == kind.as_str() && m.expires_at > now
        })
    }

    /// Adds one just applied.
    pub fn add(&self, active: Active) {
        self.set.write().expect("mitigations lock").push(active);
    }

    /// Drops one just lifted.
    pub fn remove(&self, id: &str) {
        self.set
            .write()
            .expect("mitigations lock")
            .retain(|m| m.id != id);
    }

    /// Replaces the set with what the database holds.
    pub fn replace(&self, set: Vec<Active>) {
        *self.set.write().expect("mitigations lock") = set;
    }
}
