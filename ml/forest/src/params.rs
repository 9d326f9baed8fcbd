//! The forest's hyperparameters, checked before any fitting through linfa's
//! [`ParamGuard`].

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};

use crate::ForestError;

/// How a node is cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Splits {
    /// The paper's cut: one random feature at a random value (scikit-learn's too).
    Axis,
    /// Random hyperplanes (Hariri et al.). `level` is how many dimensions
    /// beyond one a hyperplane's normal spans (`None`: all of them); level 0
    /// is an axis cut drawn the extended way.
    Extended {
        /// Extra dimensions per hyperplane, below the features a tree sees.
        level: Option<usize>,
    },
}

/// Where labelling draws the line between inlier and anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Threshold {
    /// Flag this share of the training rows (scikit-learn's `contamination`).
    Contamination(f64),
    /// Flag scores above this value (0.5 is the paper's and scikit-learn's "auto").
    Score(f64),
}

/// Checked hyperparameters: what [`linfa::traits::Fit`] runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForestValidParams {
    pub(crate) trees: usize,
    pub(crate) sample_size: usize,
    pub(crate) max_features: f64,
    pub(crate) threshold: Threshold,
    pub(crate) splits: Splits,
    pub(crate) seed: u64,
}

impl IsolationForestValidParams {
    /// Trees in the forest.
    pub fn trees(&self) -> usize {
        self.trees
    }
    /// Rows each tree isolates (fewer if the data has fewer).
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }
    /// Share of the features each tree sees.
    pub fn max_features(&self) -> f64 {
        self.max_features
    }
    /// How labels are drawn.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }
    /// How nodes are cut.
    pub fn splits(&self) -> Splits {
        self.splits
    }
    /// The seed every tree's randomness derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Unchecked hyperparameters with the paper's defaults: 100 trees, subsamples
/// of 256, every feature, axis cuts, a score threshold of 0.5.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForestParams(IsolationForestValidParams);

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self(IsolationForestValidParams {
            trees: 100,
            sample_size: 256,
            max_features: 1.0,
            threshold: Threshold::Score(0.5),
            splits: Splits::Axis,
            seed: 0x5eed,
        })
    }
}

impl IsolationForestParams {
    /// Number of trees.
    pub fn trees(mut self, trees: usize) -> Self {
        self.0.trees = trees;
        self
    }
    /// Rows each tree isolates.
    pub fn sample_size(mut self, rows: usize) -> Self {
        self.0.sample_size = rows;
        self
    }
    /// Share of the features each tree sees, in (0, 1].
    pub fn max_features(mut self, share: f64) -> Self {
        self.0.max_features = share;
        self
    }
    /// Label this share of the training rows as anomalies, in (0, 0.5].
    pub fn contamination(mut self, share: f64) -> Self {
        self.0.threshold = Threshold::Contamination(share);
        self
    }
    /// Label scores above `score`, in (0, 1).
    pub fn score_threshold(mut self, score: f64) -> Self {
        self.0.threshold = Threshold::Score(score);
        self
    }
    /// How nodes are cut.
    pub fn splits(mut self, splits: Splits) -> Self {
        self.0.splits = splits;
        self
    }
    /// The seed: the same seed and data give the same model.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
}

impl ParamGuard for IsolationForestParams {
    type Checked = IsolationForestValidParams;
    type Error = ForestError;

    fn check_ref(&self) -> Result<&Self::Checked, Self::Error> {
        let p = &self.0;
        if p.trees == 0 {
            return Err(ForestError::Trees(p.trees));
        }
        if p.sample_size < 2 {
            return Err(ForestError::SampleSize(p.sample_size));
        }
        if !(p.max_features > 0.0 && p.max_features <= 1.0) {
            return Err(ForestError::MaxFeatures(p.max_features));
        }
        match p.threshold {
            Threshold::Contamination(c) if !(c > 0.0 && c <= 0.5) => {
                Err(ForestError::Contamination(c))
            }
            Threshold::Score(s) if !(s > 0.0 && s < 1.0) => Err(ForestError::ScoreThreshold(s)),
            _ => Ok(p),
        }
    }

    fn check(self) -> Result<Self::Checked, Self::Error> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// Features a tree sees out of `features`: at least one (scikit-learn's rounding).
pub(crate) fn features_per_tree(share: f64, features: usize) -> usize {
    ((share * features as f64) as usize).clamp(1, features)
}
