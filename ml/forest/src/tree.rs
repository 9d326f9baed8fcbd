//! Growing one isolation tree into flat nodes.
//!
//! A tree is a vector of [`Node`]s, the root first and each node's children
//! side by side after it, so a walk is one index computation per level and
//! every child comes after its parent (which also makes any walk finite).

use ndarray::ArrayView2;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::Splits;
use crate::path::average_path_length;
use crate::walk::snapped_cut;

/// `Node::split` of a leaf.
pub(crate) const LEAF: u32 = u32::MAX;

/// One node: 16 bytes, four to a cache line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    /// The feature cut (axis splits) or the hyperplane's index (extended);
    /// [`LEAF`] for a leaf.
    pub split: u32,
    /// The left child; the right child is the next node.
    pub left: u32,
    /// The cut (a row goes right when its value or projection is greater),
    /// or for a leaf the path length it ends: depth + c(rows left in it).
    pub value: f64,
}

/// One grown tree, its indices local to it.
pub(crate) struct Grown {
    pub nodes: Vec<Node>,
    /// `features` coefficients per hyperplane (extended splits only).
    pub planes: Vec<f64>,
}

/// What every tree of a forest is grown with.
pub(crate) struct Spec<'a> {
    pub data: ArrayView2<'a, f64>,
    pub sample: usize,
    pub features_per_tree: usize,
    pub splits: Splits,
}

/// Grows one tree from `seed` on a random subsample of `spec.data`.
pub(crate) fn grow(spec: &Spec<'_>, seed: u64) -> Grown {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (rows_total, width) = spec.data.dim();
    let mut rows = index::sample(&mut rng, rows_total, spec.sample).into_vec();
    let features = if spec.features_per_tree == width {
        (0..width).collect()
    } else {
        index::sample(&mut rng, width, spec.features_per_tree).into_vec()
    };
    // The paper's height limit: ceil(log2(sample)), the average depth of a
    // balanced tree, beyond which only anomalies' paths would be told apart.
    let max_depth = (spec.sample as f64).log2().ceil() as usize;
    let mut grower = Grower {
        data: spec.data,
        features,
        candidates: Vec::with_capacity(width),
        rng,
        nodes: vec![placeholder()],
        planes: Vec::new(),
        splits: spec.splits,
    };
    let mut stack = vec![(0usize, 0usize, rows.len(), 0usize)];
    while let Some((node, start, end, depth)) = stack.pop() {
        let part = &mut rows[start..end];
        let cut = if depth >= max_depth || part.len() <= 1 {
            None
        } else {
            grower.cut(part)
        };
        match cut {
            None => {
                grower.nodes[node] = Node {
                    split: LEAF,
                    left: LEAF,
                    value: depth as f64 + average_path_length(part.len()),
                };
            }
            Some((split, value, left_rows)) => {
                let left = grower.nodes.len();
                grower.nodes.extend([placeholder(), placeholder()]);
                grower.nodes[node] = Node {
                    split,
                    left: left as u32,
                    value,
                };
                stack.push((left + 1, start + left_rows, end, depth + 1));
                stack.push((left, start, start + left_rows, depth + 1));
            }
        }
    }
    Grown {
        nodes: grower.nodes,
        planes: grower.planes,
    }
}

fn placeholder() -> Node {
    Node {
        split: LEAF,
        left: LEAF,
        value: 0.0,
    }
}

struct Grower<'a> {
    data: ArrayView2<'a, f64>,
    /// The features this tree sees.
    features: Vec<usize>,
    /// Scratch: features not yet tried at the current node.
    candidates: Vec<usize>,
    rng: Xoshiro256PlusPlus,
    nodes: Vec<Node>,
    planes: Vec<f64>,
    splits: Splits,
}

impl Grower<'_> {
    /// Cuts `rows` (reordering them, the left side first): the split, its
    /// value and how many rows went left. `None` when every feature the tree
    /// sees is constant over `rows`, which is then a leaf.
    fn cut(&mut self, rows: &mut [usize]) -> Option<(u32, f64, usize)> {
        match self.splits {
            Splits::Axis => self.axis_cut(rows),
            Splits::Extended { level } => self.hyperplane_cut(rows, level),
        }
    }

    /// A random feature that varies over `rows`, cut uniformly between its
    /// bounds. Constant features are skipped, as scikit-learn does.
    fn axis_cut(&mut self, rows: &mut [usize]) -> Option<(u32, f64, usize)> {
        self.candidates.clear();
        self.candidates.extend_from_slice(&self.features);
        while !self.candidates.is_empty() {
            let pick = self.rng.random_range(0..self.candidates.len());
            let feature = self.candidates.swap_remove(pick);
            let column = self.data.column(feature);
            let (min, max) = bounds(rows.iter().map(|r| column[*r]));
            if max > min {
                let mut value = min + (max - min) * self.rng.random::<f64>();
                if value >= max {
                    // Rounding reached the top: cut at the bottom so both sides keep rows.
                    value = min;
                }
                let value = snapped_cut(value, min, max);
                let left = partition(rows, |r| column[r] <= value);
                return Some((feature as u32, value, left));
            }
        }
        None
    }

    /// A hyperplane through a random point of the rows' bounding box, with a
    /// random normal over `level + 1` of the tree's features.
    fn hyperplane_cut(
        &mut self,
        rows: &mut [usize],
        level: Option<usize>,
    ) -> Option<(u32, f64, usize)> {
        let width = self.data.ncols();
        let start = self.planes.len();
        self.planes.resize(start + width, 0.0);
        let seen = self.features.len();
        let free = level.map_or(seen, |l| (l + 1).min(seen));
        // Which of the tree's features this normal spans.
        let spanned = index::sample(&mut self.rng, seen, free);
        let mut intercept = 0.0;
        let mut varies = false;
        for i in spanned.iter() {
            let feature = self.features[i];
            let column = self.data.column(feature);
            let (min, max) = bounds(rows.iter().map(|r| column[*r]));
            varies |= max > min;
            let weight = normal(&mut self.rng);
            let point = min + (max - min) * self.rng.random::<f64>();
            self.planes[start + feature] = weight;
            intercept += weight * point;
        }
        if !varies {
            self.planes.truncate(start);
            return None;
        }
        let plane = &self.planes[start..];
        let data = self.data;
        let left = partition(rows, |r| {
            dot(data.row(r).iter().copied(), plane) <= intercept
        });
        Some(((start / width) as u32, intercept, left))
    }
}

/// The smallest and largest of `values`.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// Reorders `rows` so those for which `left` holds come first; returns how many.
fn partition(rows: &mut [usize], left: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, rows.len());
    while i < j {
        if left(rows[i]) {
            i += 1;
        } else {
            j -= 1;
            rows.swap(i, j);
        }
    }
    i
}

/// A row's projection on a hyperplane's normal.
pub(crate) fn dot(row: impl Iterator<Item = f64>, plane: &[f64]) -> f64 {
    row.zip(plane).map(|(x, w)| x * w).sum()
}

/// A standard normal draw (Box–Muller), so the crate needs no distributions crate.
fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
