//! Why a forest could not be built, used or read.

/// Everything that can go wrong with a forest, each with the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    /// A forest needs at least one tree.
    #[error("trees must be at least 1 (got {0})")]
    Trees(usize),
    /// A tree needs at least two rows to split.
    #[error("sample_size must be at least 2 (got {0})")]
    SampleSize(usize),
    /// The share of features each tree sees.
    #[error("max_features must be in (0, 1] (got {0})")]
    MaxFeatures(f64),
    /// The expected share of anomalies.
    #[error("contamination must be in (0, 0.5] (got {0})")]
    Contamination(f64),
    /// A fixed score threshold.
    #[error("the score threshold must be in (0, 1) (got {0})")]
    ScoreThreshold(f64),
    /// An extended forest's hyperplanes have at most `features - 1` free dimensions.
    #[error(
        "extension level {level} needs more than {level} features per tree (a tree sees {features})"
    )]
    ExtensionLevel {
        /// The level asked for.
        level: usize,
        /// The features each tree sees.
        features: usize,
    },
    /// Fitting needs rows to isolate.
    #[error("need at least 2 rows to fit (got {0})")]
    TooFewRows(usize),
    /// Fitting needs at least one feature.
    #[error("the data has no features")]
    NoFeatures,
    /// NaN and infinities cannot be split or compared.
    #[error("row {row}, feature {feature} is not a finite number")]
    NotFinite {
        /// The row at fault.
        row: usize,
        /// The feature at fault.
        feature: usize,
    },
    /// Rows scored must have the features the model was fitted on.
    #[error("the model expects {expected} features (got {got})")]
    FeatureCount {
        /// The model's feature count.
        expected: usize,
        /// The row's.
        got: usize,
    },
    /// A model written by another version of this crate.
    #[error("model format {0} is not supported (this build reads format {format})", format = crate::FORMAT)]
    Format(u32),
    /// Bytes that do not decode to a whole, consistent model.
    #[error("the model bytes are corrupt: {0}")]
    Corrupt(String),
    /// linfa's own errors, which [`linfa::traits::Fit`] requires us to carry.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}
