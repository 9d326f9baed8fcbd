//! Axis-cut trees laid out for scoring without branches.
//!
//! A leaf becomes a node that loops to itself behind a cut no value passes
//! (+∞), so every walk takes the forest's depth in steps and never asks "is
//! this a leaf?". Without that data-dependent branch there is nothing to
//! mispredict, and the walks of different rows (or of one row through
//! different trees) overlap in the CPU instead of waiting on each other.

use crate::tree::{LEAF, Node};
#[cfg(target_arch = "x86_64")]
use crate::wide::Wide;

/// Rows walked through one tree before the next tree: 64 rows of 16
/// features and a tree of ~500 nodes both stay in L1.
const BLOCK: usize = 64;

/// The widest row scored one at a time without allocating.
const STACK_ROW: usize = 64;

/// Rows walked in lockstep.
const LANES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    /// The cut as an [`ordered`] integer: integer compares are cheaper and
    /// quicker to load than floating-point ones.
    cut: u64,
    feature: u32,
    /// The left child (the right is next to it), or the node itself at a leaf.
    next: u32,
}

/// Maps a finite float to an integer in the same order (−0 and +0 alike).
#[inline(always)]
pub(crate) fn ordered(value: f64) -> u64 {
    let bits = (value + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The inverse of [`ordered`].
pub(crate) fn unordered(bits: u64) -> f64 {
    f64::from_bits(if bits >> 63 == 1 {
        bits & !(1 << 63)
    } else {
        !bits
    })
}

/// The low bits a cut's [`ordered`] integer has once snapped.
pub(crate) const SNAPPED: u64 = 0xffff_ffff;

/// `cut`, moved to the last value that shares its top 32 bits (as an
/// [`ordered`] integer), or failing that to the last before them, as long as
/// it stays in `[min, max)` and so still splits the rows; otherwise `cut`.
///
/// A value then goes right exactly when its top 32 bits are above the cut's:
/// the block walk (`wide`) compares those, sixteen to a vector, and needs the
/// whole values only for the rare cuts that could not move. The move is at
/// most about a millionth of the value, far below what a random cut's
/// position means to the forest.
pub(crate) fn snapped_cut(cut: f64, min: f64, max: f64) -> f64 {
    let bits = ordered(cut);
    let up = unordered(bits | SNAPPED);
    if up < max {
        return up;
    }
    let down = unordered((bits & !SNAPPED).wrapping_sub(1));
    if bits >> 32 > 0 && down >= min {
        return down;
    }
    cut
}

/// The scoring layout of a forest's axis-cut trees (derived, never stored).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Walk {
    steps: Vec<Step>,
    /// The path length a walk ending at each node adds (leaves only).
    ends: Vec<f64>,
    roots: Vec<u32>,
    /// Steps every walk takes: the deepest leaf's depth.
    depth: usize,
    /// The same trees four levels a step, where the CPU can.
    #[cfg(target_arch = "x86_64")]
    wide: Option<Wide>,
}

impl Walk {
    /// Lays out `nodes`, whose children always come after their parents.
    pub(crate) fn new(nodes: &[Node], roots: &[u32]) -> Self {
        let mut depths = vec![0usize; nodes.len()];
        let mut depth = 0;
        let mut steps = Vec::with_capacity(nodes.len());
        let mut ends = vec![0.0; nodes.len()];
        for (at, node) in nodes.iter().enumerate() {
            if node.split == LEAF {
                steps.push(Step {
                    feature: 0,
                    next: at as u32,
                    cut: u64::MAX,
                });
                ends[at] = node.value;
                depth = depth.max(depths[at]);
            } else {
                let left = node.left as usize;
                depths[left] = depths[at] + 1;
                depths[left + 1] = depths[at] + 1;
                steps.push(Step {
                    feature: node.split,
                    next: node.left,
                    cut: ordered(node.value),
                });
            }
        }
        Self {
            steps,
            ends,
            roots: roots.to_vec(),
            depth,
            #[cfg(target_arch = "x86_64")]
            wide: Wide::new(nodes, roots, depth),
        }
    }

    /// The sum of one row's path lengths over every tree.
    /// Allocates only for rows of more than [`STACK_ROW`] features.
    pub(crate) fn row_total(&self, row: &[f64]) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if let Some(wide) = &self.wide {
            return wide.row_total(row);
        }
        let sum = |row: &[u64]| -> f64 {
            self.roots
                .iter()
                .map(|root| self.walk(*root as usize, row))
                .sum()
        };
        if row.len() <= STACK_ROW {
            let mut on_stack = [0u64; STACK_ROW];
            for (o, v) in on_stack.iter_mut().zip(row) {
                *o = ordered(*v);
            }
            sum(&on_stack[..row.len()])
        } else {
            sum(&row.iter().map(|v| ordered(*v)).collect::<Vec<u64>>())
        }
    }

    /// Adds each row's summed path lengths to `totals`; `rows` holds the rows
    /// one after another, `width` values each.
    pub(crate) fn block_totals(&self, rows: &[f64], width: usize, totals: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(wide) = &self.wide {
            return wide.block_totals(rows, width, totals);
        }
        // Groups of LANES rows, feature-major: a group's values of one
        // feature sit side by side, so a lane's value is at feature·LANES + lane.
        let mut groups = Vec::with_capacity(BLOCK * width);
        let mut rest = Vec::with_capacity(LANES * width);
        for (block, out) in rows.chunks(BLOCK * width).zip(totals.chunks_mut(BLOCK)) {
            let grouped = out.len() / LANES * LANES;
            groups.clear();
            for group in block[..grouped * width].chunks_exact(LANES * width) {
                for feature in 0..width {
                    groups.extend((0..LANES).map(|lane| ordered(group[lane * width + feature])));
                }
            }
            rest.clear();
            rest.extend(block[grouped * width..].iter().map(|v| ordered(*v)));
            let (out, out_rest) = out.split_at_mut(grouped);
            for root in &self.roots {
                let root = *root as usize;
                for (group, out) in groups
                    .chunks_exact(LANES * width)
                    .zip(out.chunks_exact_mut(LANES))
                {
                    for (total, end) in out.iter_mut().zip(self.walk_lanes(root, group)) {
                        *total += end;
                    }
                }
                for (row, total) in rest.chunks_exact(width).zip(out_rest.iter_mut()) {
                    *total += self.walk(root, row);
                }
            }
        }
    }

    /// [`LANES`] rows walked in lockstep: their steps are independent, so the
    /// CPU runs them side by side instead of one row's chain of loads at a time.
    #[inline(always)]
    fn walk_lanes(&self, root: usize, group: &[u64]) -> [f64; LANES] {
        let mut at = [root; LANES];
        for _ in 0..self.depth {
            for (lane, at) in at.iter_mut().enumerate() {
                let step = self.steps[*at];
                let value = group[step.feature as usize * LANES + lane];
                *at = step.next as usize + usize::from(value > step.cut);
            }
        }
        at.map(|at| self.ends[at])
    }

    #[inline(always)]
    fn walk(&self, root: usize, row: &[u64]) -> f64 {
        let mut at = root;
        for _ in 0..self.depth {
            let step = self.steps[at];
            at = step.next as usize + usize::from(row[step.feature as usize] > step.cut);
        }
        self.ends[at]
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod wide_tests {
    use linfa::prelude::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;
    use crate::IsolationForest;

    fn fitted(width: usize, sample: usize, rng: &mut Xoshiro256PlusPlus) -> IsolationForest {
        // Half the columns whole numbers, as counts are: cuts between them.
        let data = Array2::from_shape_fn((1_000, width), |(_, column)| {
            let value = rng.random_range(-5.0..5.0);
            if column % 2 == 0 {
                value
            } else {
                f64::round(value * 3.0)
            }
        });
        IsolationForest::params()
            .trees(40)
            .sample_size(sample)
            .seed(3)
            .fit(&Dataset::from(data))
            .expect("fits")
    }

    /// Rows with one value on, next to, or within the top 32 bits of each
    /// cut (where the block walk must compare whole values), and values
    /// beyond any cut.
    fn probes(model: &IsolationForest, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
        let width = model.features;
        let mut rows = Vec::new();
        let cuts = model.nodes.iter().filter(|node| node.split != LEAF);
        for node in cuts {
            let bits = node.value.to_bits();
            let beside = [
                node.value,
                node.value.next_up(),
                node.value.next_down(),
                f64::from_bits(bits ^ 1),
                f64::from_bits(bits ^ 0xffff_ffff),
            ];
            for value in beside {
                let mut row: Vec<f64> = (0..width).map(|_| rng.random_range(-5.0..5.0)).collect();
                row[node.split as usize] = value;
                rows.extend(row);
            }
        }
        for odd in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MAX,
        ] {
            rows.extend(std::iter::repeat_n(odd, width));
        }
        rows
    }

    fn assert_same_totals(wide: &Walk, rows: &[f64], width: usize) {
        let mut scalar = wide.clone();
        scalar.wide = None;
        let count = rows.len() / width;
        let (mut blocks, mut steps) = (vec![0.0; count], vec![0.0; count]);
        wide.block_totals(rows, width, &mut blocks);
        scalar.block_totals(rows, width, &mut steps);
        for (at, row) in rows.chunks_exact(width).enumerate() {
            let one = wide.row_total(row);
            assert_eq!(
                blocks[at].to_bits(),
                steps[at].to_bits(),
                "row {at}: {row:?}"
            );
            assert_eq!(
                one.to_bits(),
                steps[at].to_bits(),
                "row {at} alone: {row:?}"
            );
        }
    }

    #[test]
    fn four_levels_a_step_give_the_scalar_walks_totals_to_the_bit() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for (width, sample) in [(16, 256), (5, 100), (16, 16), (2, 5)] {
            let mut model = fitted(width, sample, &mut rng);
            let blocks = model.walk.wide.as_ref();
            assert_eq!(
                blocks.is_some(),
                std::arch::is_x86_feature_detected!("avx512f"),
                "{width} features, sample {sample}: laid out in blocks where the CPU can"
            );
            assert!(!blocks.is_some_and(|b| b.ties()), "grown cuts are snapped");
            let rows = probes(&model, &mut rng);
            assert_same_totals(&model.walk, &rows, width);

            // A model whose cuts were not snapped (grown before they were):
            // ties between top bits are looked for and settled.
            for node in model.nodes.iter_mut().filter(|node| node.split != LEAF) {
                node.value = f64::from_bits(node.value.to_bits() ^ 0x5555);
            }
            let unsnapped = Walk::new(&model.nodes, &model.roots);
            assert!(unsnapped.wide.as_ref().is_none_or(|b| b.ties()));
            let rows = probes(&model, &mut rng);
            assert_same_totals(&unsnapped, &rows, width);
        }
    }

    #[test]
    fn trees_deeper_than_eight_levels_or_cutting_a_seventeenth_feature_walk_a_level_a_step() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        assert!(fitted(16, 512, &mut rng).walk.wide.is_none(), "nine levels");
        assert!(fitted(24, 256, &mut rng).walk.wide.is_none(), "24 features");
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    #[test]
    fn a_cut_moves_to_the_end_of_its_top_bits_only_while_it_still_splits() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
        for _ in 0..10_000 {
            let (a, b) = (rng.random_range(-1e3..1e3), rng.random_range(-1e3..1e3));
            let (min, max) = (f64::min(a, b), f64::max(a, b));
            let cut = min + (max - min) * rng.random::<f64>();
            let snapped = snapped_cut(cut, min, max);
            assert!(
                min <= snapped && snapped < max,
                "{snapped} outside [{min}, {max})"
            );
            assert_eq!(ordered(snapped) & SNAPPED, SNAPPED);
            assert!((snapped - cut).abs() <= cut.abs() * 2e-6 + f64::MIN_POSITIVE);
        }
        // Bounds closer than the top bits can tell: the cut stays.
        let (min, max) = (1.0, 1.0f64.next_up().next_up());
        assert_eq!(snapped_cut(1.0f64.next_up(), min, max), 1.0f64.next_up());
        // Around zero and below it.
        for (cut, min, max) in [(0.0, -1.0, 1.0), (-2.5, -3.0, -2.0), (-1e-300, -1.0, 0.0)] {
            let snapped = snapped_cut(cut, min, max);
            assert!(min <= snapped && snapped < max);
            assert_eq!(ordered(snapped) & SNAPPED, SNAPPED);
        }
    }
}
