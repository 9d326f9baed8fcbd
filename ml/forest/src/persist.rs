//! Models that survive restarts and travel between replicas.
//!
//! The bytes are postcard (compact serde) with the format version first;
//! reading checks the version before anything else, then checks that every
//! index in the model points where it may, so a corrupt or hostile model is
//! refused instead of panicking or looping while scoring.

use serde::Deserialize;

use crate::tree::{LEAF, Node};
use crate::walk::Walk;
use crate::{ForestError, IsolationForest, Splits};

/// The format this build writes and reads.
pub const FORMAT: u32 = 1;

impl IsolationForest {
    /// The model as bytes for [`IsolationForest::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a forest always serialises")
    }

    /// Reads a model written by [`IsolationForest::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ForestError> {
        let (format, _) = postcard::take_from_bytes::<u32>(bytes)
            .map_err(|e| ForestError::Corrupt(e.to_string()))?;
        if format != FORMAT {
            return Err(ForestError::Format(format));
        }
        postcard::from_bytes(bytes).map_err(|e| ForestError::Corrupt(e.to_string()))
    }
}

/// The serde shape of a model, checked on the way in.
#[derive(Deserialize)]
struct Stored {
    format: u32,
    features: usize,
    sample_size: usize,
    splits: Splits,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    planes: Vec<f64>,
    threshold: f64,
}

impl<'de> Deserialize<'de> for IsolationForest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        check(stored).map_err(serde::de::Error::custom)
    }
}

fn check(s: Stored) -> Result<IsolationForest, ForestError> {
    let corrupt = |what: &str| Err(ForestError::Corrupt(what.into()));
    if s.format != FORMAT {
        return Err(ForestError::Format(s.format));
    }
    if s.features == 0 || s.sample_size < 2 || s.roots.is_empty() {
        return corrupt("no features, trees or sample");
    }
    if !(s.threshold > 0.0 && s.threshold < 1.0) {
        return corrupt("threshold outside (0, 1)");
    }
    if s.roots.iter().any(|r| *r as usize >= s.nodes.len()) {
        return corrupt("a tree starts past the nodes");
    }
    let extended = matches!(s.splits, Splits::Extended { .. });
    if extended && !s.planes.len().is_multiple_of(s.features) {
        return corrupt("a hyperplane of the wrong width");
    }
    let planes = s.planes.len() / s.features;
    for (at, node) in s.nodes.iter().enumerate() {
        if !node.value.is_finite() {
            return corrupt("a value that is not finite");
        }
        if node.split == LEAF {
            continue;
        }
        // Children after their parent: every walk moves forward and ends.
        let left = node.left as usize;
        if left <= at || left + 1 >= s.nodes.len() {
            return corrupt("a child out of place");
        }
        let split = node.split as usize;
        if (extended && split >= planes) || (!extended && split >= s.features) {
            return corrupt("a split past the features or hyperplanes");
        }
    }
    let walk = if extended {
        Walk::default()
    } else {
        Walk::new(&s.nodes, &s.roots)
    };
    Ok(IsolationForest {
        walk,
        format: s.format,
        features: s.features,
        sample_size: s.sample_size,
        splits: s.splits,
        nodes: s.nodes,
        roots: s.roots,
        planes: s.planes,
        threshold: s.threshold,
    })
}
