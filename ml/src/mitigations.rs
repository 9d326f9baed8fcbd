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
///
/// Each local change bumps a generation, so a reload whose database read
/// began before a mitigation was applied or lifted here cannot undo it (the
/// read would be older than the change; the next reload carries it).
#[derive(Default)]
pub struct Mitigations {
    set: RwLock<Held>,
}

#[derive(Default)]
struct Held {
    generation: u64,
    active: Vec<Active>,
}

impl Mitigations {
    /// The set `active`, as loaded at start.
    pub fn loaded(active: Vec<Active>) -> Self {
        Self {
            set: RwLock::new(Held {
                generation: 0,
                active,
            }),
        }
    }

    /// Those in force at `now`, and their revision.
    pub fn in_force(&self, now: DateTime<Utc>) -> (String, Vec<Active>) {
        let mut active: Vec<Active> = self
            .set
            .read()
            .expect("mitigations lock")
            .active
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
        let held = self.set.read().expect("mitigations lock");
        held.active.iter().any(|m| {
            &m.subject == subject && m.kind.as_str() == kind.as_str() && m.expires_at > now
        })
    }

    /// Adds one just applied.
    pub fn add(&self, active: Active) {
        let mut held = self.set.write().expect("mitigations lock");
        held.generation += 1;
        held.active.push(active);
    }

    /// Drops one just lifted.
    pub fn remove(&self, id: &str) {
        let mut held = self.set.write().expect("mitigations lock");
        held.generation += 1;
        held.active.retain(|m| m.id != id);
    }

    /// The generation to pass to [`Mitigations::replace`] before reading
    /// the database.
    pub fn generation(&self) -> u64 {
        self.set.read().expect("mitigations lock").generation
    }

    /// Replaces the set with what the database held, read after
    /// `generation` was taken; refused (false) if the set changed since.
    pub fn replace(&self, generation: u64, set: Vec<Active>) -> bool {
        let mut held = self.set.write().expect("mitigations lock");
        if held.generation != generation {
            return false;
        }
        held.active = set;
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::subject::SubjectKind;

    fn throttle(id: &str) -> Active {
        Active {
            id: id.to_string(),
            alert_id: format!("alert-{id}"),
            kind: MitigationKind::Throttle { per_minute: 60 },
            subject: Subject::new(SubjectKind::ApiKey, "key"),
            tenant_id: None,
            expires_at: Utc::now() + TimeDelta::minutes(15),
        }
    }

    fn ids(set: &Mitigations) -> Vec<String> {
        set.in_force(Utc::now())
            .1
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    #[test]
    fn a_reload_read_before_an_apply_does_not_undo_it() {
        let set = Mitigations::default();
        let seen = set.generation();
        set.add(throttle("new"));
        assert!(!set.replace(seen, Vec::new()));
        assert_eq!(ids(&set), ["new"]);
    }

    #[test]
    fn a_reload_read_before_a_lift_does_not_restore_it() {
        let set = Mitigations::default();
        set.add(throttle("old"));
        let seen = set.generation();
        set.remove("old");
        assert!(!set.replace(seen, vec![throttle("old")]));
        assert!(ids(&set).is_empty());
    }

    #[test]
    fn a_reload_with_nothing_changed_here_takes_the_database_set() {
        let set = Mitigations::default();
        set.add(throttle("mine"));
        let seen = set.generation();
        assert!(set.replace(seen, vec![throttle("another replicas")]));
        assert_eq!(ids(&set), ["another replicas"]);
    }
}
