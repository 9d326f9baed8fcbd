//! The fitted forest: fitting through linfa, scoring and labelling.

use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, ArrayView2, Data, Ix2};
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use crate::params::features_per_tree;
use crate::path::average_path_length;
use crate::tree::{self, LEAF, Node, Spec};
use crate::walk::Walk;
use crate::{ForestError, IsolationForestParams, IsolationForestValidParams, Splits, Threshold};

/// Rows scored per parallel task.
const CHUNK: usize = 512;

/// A fitted isolation forest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationForest {
    /// Always [`crate::FORMAT`] in memory; first, so a reader can check it first.
    pub(crate) format: u32,
    pub(crate) features: usize,
    /// Rows each tree isolated.
    pub(crate) sample_size: usize,
    pub(crate) splits: Splits,
    /// Every tree's nodes, one after another.
    pub(crate) nodes: Vec<Node>,
    /// Where each tree starts in `nodes`.
    pub(crate) roots: Vec<u32>,
    /// Hyperplane normals, `features` each (extended splits only).
    pub(crate) planes: Vec<f64>,
    /// Scores above this are anomalies.
    pub(crate) threshold: f64,
    /// The axis trees laid out for scoring (derived from `nodes`).
    #[serde(skip)]
    pub(crate) walk: Walk,
}

impl IsolationForest {
    /// The default hyperparameters, to adjust and fit.
    pub fn params() -> IsolationForestParams {
        IsolationForestParams::default()
    }

    /// Features a row must have.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Trees in the forest.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Rows each tree isolated (the parameter, or fewer if the data had fewer).
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// How the trees were cut.
    pub fn splits(&self) -> Splits {
        self.splits
    }

    /// Scores above this are labelled anomalies.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The same forest labelling scores above `score` instead.
    pub fn with_threshold(mut self, score: f64) -> Result<Self, ForestError> {
        if !(score > 0.0 && score < 1.0) {
            return Err(ForestError::ScoreThreshold(score));
        }
        self.threshold = score;
        Ok(self)
    }

    /// Whether `score` is above the threshold.
    pub fn is_anomaly(&self, score: f64) -> bool {
        score > self.threshold
    }

    /// One row's score in (0, 1]; higher is more anomalous. Allocates nothing.
    pub fn score_row(&self, row: &[f64]) -> Result<f64, ForestError> {
        if row.len() != self.features {
            return Err(ForestError::FeatureCount {
                expected: self.features,
                got: row.len(),
            });
        }
        Ok(self.score_checked(row))
    }

    /// Every row's score, in parallel over chunks of rows.
    pub fn score_samples<D: Data<Elem = f64>>(
        &self,
        rows: &ArrayBase<D, Ix2>,
    ) -> Result<Array1<f64>, ForestError> {
        let width = self.features;
        if rows.ncols() != width {
            return Err(ForestError::FeatureCount {
                expected: width,
                got: rows.ncols(),
            });
        }
        let rows = rows.view();
        let flat = rows.as_slice();
        let mut scores = vec![0.0; rows.nrows()];
        scores
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let first = chunk * CHUNK;
                // A strided array's rows are copied out, once per chunk.
                let copied;
                let values = match flat {
                    Some(flat) => &flat[first * width..(first + out.len()) * width],
                    None => {
                        copied = rows
                            .slice(ndarray::s![first..first + out.len(), ..])
                            .iter()
                            .copied()
                            .collect::<Vec<f64>>();
                        &copied[..]
                    }
                };
                match self.splits {
                    Splits::Axis => self.walk.block_totals(values, width, out),
                    Splits::Extended { .. } => {
                        for (row, total) in values.chunks_exact(width).zip(out.iter_mut()) {
                            *total = self.hyperplane_paths(row);
                        }
                    }
                }
                for total in out {
                    *total = self.score_of(*total);
                }
            });
        Ok(Array1::from_vec(scores))
    }

    fn score_checked(&self, row: &[f64]) -> f64 {
        let total = match self.splits {
            Splits::Axis => self.walk.row_total(row),
            Splits::Extended { .. } => self.hyperplane_paths(row),
        };
        self.score_of(total)
    }

    /// s(x) = 2^(−E[h(x)]/c(n)) from the sum of a row's path lengths.
    fn score_of(&self, total: f64) -> f64 {
        let mean = total / self.roots.len() as f64;
        (-mean / average_path_length(self.sample_size)).exp2()
    }

    /// The sum of `row`'s path lengths through hyperplane-cut trees.
    fn hyperplane_paths(&self, row: &[f64]) -> f64 {
        let width = self.features;
        let mut total = 0.0;
        for &root in &self.roots {
            let mut at = root as usize;
            loop {
                let node = self.nodes[at];
                if node.split == LEAF {
                    total += node.value;
                    break;
                }
                let plane = &self.planes[node.split as usize * width..][..width];
                let right = tree::dot(row.iter().copied(), plane) > node.value;
                at = node.left as usize + usize::from(right);
            }
        }
        total
    }
}

impl<D: Data<Elem = f64>, T> Fit<ArrayBase<D, Ix2>, T, ForestError> for IsolationForestValidParams {
    type Object = IsolationForest;

    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<IsolationForest, ForestError> {
        let data = dataset.records.view();
        check_data(data)?;
        let (rows, width) = data.dim();
        let features_per_tree = features_per_tree(self.max_features, width);
        if let Splits::Extended { level: Some(level) } = self.splits
            && level >= features_per_tree
        {
            return Err(ForestError::ExtensionLevel {
                level,
                features: features_per_tree,
            });
        }
        let spec = Spec {
            data,
            sample: self.sample_size.min(rows),
            features_per_tree,
            splits: self.splits,
        };
        // Each tree's seed comes from the forest's, so the model does not
        // depend on how rayon schedules the trees.
        let mut seeds = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let seeds: Vec<u64> = (0..self.trees).map(|_| seeds.next_u64()).collect();
        let grown: Vec<tree::Grown> = seeds.par_iter().map(|s| tree::grow(&spec, *s)).collect();

        let mut model = IsolationForest {
            format: crate::FORMAT,
            features: width,
            sample_size: spec.sample,
            splits: self.splits,
            nodes: Vec::with_capacity(grown.iter().map(|g| g.nodes.len()).sum()),
            roots: Vec::with_capacity(grown.len()),
            planes: Vec::new(),
            threshold: 0.5,
            walk: Walk::default(),
        };
        for tree in grown {
            let offset = model.nodes.len() as u32;
            let plane_offset = (model.planes.len() / width) as u32;
            model.roots.push(offset);
            model.nodes.extend(tree.nodes.into_iter().map(|mut node| {
                if node.split != LEAF {
                    node.left += offset;
                    if matches!(self.splits, Splits::Extended { .. }) {
                        node.split += plane_offset;
                    }
                }
                node
            }));
            model.planes.extend(tree.planes);
        }
        if self.splits == Splits::Axis {
            model.walk = Walk::new(&model.nodes, &model.roots);
        }
        model.threshold = match self.threshold {
            Threshold::Score(score) => score,
            Threshold::Contamination(share) => {
                let scores = model.score_samples(&data)?;
                quantile(scores.to_vec(), 1.0 - share)
            }
        };
        Ok(model)
    }
}

/// Labels each row: `true` for an anomaly. Panics if the rows do not have the
/// model's features, as linfa's models do; [`IsolationForest::score_samples`]
/// answers that with an error instead.
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<bool>> for IsolationForest {
    fn predict_inplace(&self, rows: &ArrayBase<D, Ix2>, labels: &mut Array1<bool>) {
        assert_eq!(rows.nrows(), labels.len(), "one label per row");
        let scores = self
            .score_samples(rows)
            .unwrap_or_else(|e| panic!("cannot label these rows: {e}"));
        for (label, score) in labels.iter_mut().zip(scores) {
            *label = self.is_anomaly(score);
        }
    }

    fn default_target(&self, rows: &ArrayBase<D, Ix2>) -> Array1<bool> {
        Array1::from_elem(rows.nrows(), false)
    }
}

fn check_data(data: ArrayView2<'_, f64>) -> Result<(), ForestError> {
    let (rows, width) = data.dim();
    if rows < 2 {
        return Err(ForestError::TooFewRows(rows));
    }
    if width == 0 {
        return Err(ForestError::NoFeatures);
    }
    if let Some(((row, feature), _)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(ForestError::NotFinite { row, feature });
    }
    Ok(())
}

/// The `q` quantile of `values`, interpolated linearly (numpy's default).
fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let position = q * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    values[below] + (values[above] - values[below]) * (position - below as f64)
}
