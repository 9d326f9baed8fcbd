//! Axis-cut trees laid out for scoring without branches.
//!
//! A leaf becomes a node that loops to itself behind a cut no value passes
//! (+∞), so every walk takes the forest's depth in steps and never asks "is
//! this a leaf?". Without that data-dependent branch there is nothing to
//! mispredict, and the walks of different rows (or of one row through
//! different trees) overlap in the CPU instead of waiting on each other.

use crate::tree::{LEAF, Node};

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

/// The scoring layout of a forest's axis-cut trees (derived, never stored).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Walk {
    steps: Vec<Step>,
    /// The path length a walk ending at each node adds (leaves only).
    ends: Vec<f64>,
    roots: Vec<u32>,
    /// Steps every walk takes: the deepest leaf's depth.
    depth: usize,
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
        }
    }

    /// The sum of one row's path lengths over every tree.
    /// Allocates only for rows of more than [`STACK_ROW`] features.
    pub(crate) fn row_total(&self, row: &[f64]) -> f64 {
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
