//! An isolation forest (Liu, Ting and Zhou, 2008) as a linfa algorithm.
//!
//! Anomalies are few and different, so random splits isolate them in fewer
//! steps than the bulk of the data. Each tree isolates a random subsample;
//! a row's score is s(x) = 2^(−E[h(x)]/c(n)), where h is its path length and
//! c(n) the average path length of an unsuccessful search in a binary tree of
//! n points. Scores near 1 are anomalies; well below 0.5 is the bulk.
//!
//! ```
//! use aerostic_forest::IsolationForest;
//! use linfa::prelude::*;
//! use ndarray::array;
//!
//! let rows = array![[0.0, 0.1], [0.1, 0.0], [0.05, 0.05], [0.1, 0.1], [9.0, 9.0]];
//! let model = IsolationForest::params()
//!     .seed(7)
//!     .fit(&Dataset::from(rows.clone()))
//!     .unwrap();
//! let scores = model.score_samples(&rows).unwrap();
//! assert!(scores[4] > scores[0]);
//! let flagged: ndarray::Array1<bool> = model.predict(&rows);
//! assert_eq!(flagged.len(), 5);
//! ```
//!
//! - Parameters are checked through linfa's [`linfa::ParamGuard`]; fitting is
//!   linfa's [`linfa::traits::Fit`] on any `Dataset` of `f64` records, and the
//!   model labels rows (`true` = anomaly) through [`linfa::traits::Predict`].
//! - Trees live in one flat array of 16-byte nodes; they are grown in
//!   parallel (rayon), each from its own seed, so a seed gives the same model
//!   on any number of threads.
//! - Scoring walks a derived layout where leaves loop to themselves, so every
//!   walk has the same length and no leaf test to mispredict; eight rows walk
//!   a tree in lockstep, and cuts compare as order-preserving integers.
//!   Where the CPU has AVX-512F, trees of up to eight levels that cut only
//!   the first 16 features go four levels a step instead: a row's values are
//!   permuted into a block's node order and compared sixteen at a time, and
//!   a table turns the outcomes into the exit (same totals to the bit).
//!   Scoring a row allocates nothing.
//! - A model serialises with serde, and [`IsolationForest::to_bytes`] writes a
//!   format version that [`IsolationForest::from_bytes`] checks.
//! - [`Splits::Extended`] grows the extended variant (Hariri, Carrasco Kind
//!   and Brunner, 2018): random hyperplanes instead of axis-parallel cuts.

#![warn(missing_docs)]

mod error;
mod eval;
mod forest;
mod params;
mod path;
mod persist;
mod tree;
mod walk;
#[cfg(target_arch = "x86_64")]
mod wide;

pub use error::ForestError;
pub use eval::{labelled_csv, roc_auc};
pub use forest::IsolationForest;
pub use params::{IsolationForestParams, IsolationForestValidParams, Splits, Threshold};
pub use path::average_path_length;
pub use persist::FORMAT;
