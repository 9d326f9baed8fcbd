//! Four tree levels per step, with AVX-512.
//!
//! The scalar walk spends about seven instructions on each level of each
//! row: load the node, load its feature's value, compare, compute the next
//! index. Here every tree is cut into blocks of four complete levels (15
//! nodes in heap order). One block is decided for a row with one permute
//! that puts the row's values in the block's node order, one compare of
//! sixteen 32-bit lanes against the block's cuts, and one table lookup that
//! turns the outcomes into the exit the row takes. A tree grown on 256 rows
//! (depth 8) is two such steps.
//!
//! The lanes hold the top halves of the order-preserving integers the
//! scalar walk compares. A tree grown now has every cut snapped (see
//! `walk::snapped_cut`), so a tie in the top halves means "not greater" and
//! the top halves decide alone. Where a model has a cut that is not snapped,
//! ties are looked for too, and a row that tied anywhere is summed again
//! from whole values, eight to a vector.
//!
//! Used only on x86-64 with AVX-512F, for trees that cut only the first 16
//! features and are at most 8 levels deep (grown on at most 256 rows);
//! [`Wide::new`] answers `None` otherwise and the scalar walk scores. Both
//! give the same totals to the bit: the same path lengths, added in the
//! same order.

use std::arch::x86_64::{
    __m512i, _mm_loadl_epi64, _mm_loadu_si128, _mm512_cmpeq_epi32_mask, _mm512_cmpgt_epu32_mask,
    _mm512_cmpgt_epu64_mask, _mm512_cvtepu8_epi32, _mm512_cvtepu8_epi64, _mm512_loadu_epi32,
    _mm512_loadu_epi64, _mm512_permutex2var_epi64, _mm512_permutexvar_epi32,
};

use crate::tree::{LEAF, Node};
use crate::walk::{SNAPPED, ordered};

/// The widest row: the features a permute can pick from one vector.
const MAX_FEATURES: usize = 16;
/// Levels of a block.
const LEVELS: usize = 4;
/// Nodes of a block: four complete levels.
const NODES: usize = (1 << LEVELS) - 1;
/// Exits of a block, each to a block of the next level or to an end.
const FANOUT: usize = 1 << LEVELS;
/// Blocks of a tree: the root block and one below each of its exits.
const BLOCKS: usize = 1 + FANOUT;
/// The deepest tree laid out: two blocks, as grown on up to 256 rows.
const MAX_DEPTH: usize = 2 * LEVELS;

/// Rows walked through a pair of trees before the next pair: 64 rows
/// (12 KiB) and two trees' blocks and ends (6.8 KiB) stay in L1.
const ROWS: usize = 64;

/// One tree's blocks, in the order a walk reads them. A node below a leaf
/// has a cut nothing passes (`u64::MAX`), so it sends every row left, and
/// every end below a leaf holds the leaf's path length.
#[derive(Debug, Clone, PartialEq)]
#[repr(C, align(64))]
struct Tree {
    /// The top 32 bits of each block's cuts as [`ordered`] integers
    /// (16th lane unused): a value whose top bits differ from a cut's is
    /// decided by them alone.
    tops: [[u32; FANOUT]; BLOCKS],
    /// Each block's node features, one byte per node.
    features: [[u8; FANOUT]; BLOCKS],
    /// The path length at each first exit, second exit.
    ends: [[f64; FANOUT]; FANOUT],
}

/// The exit (0..16) for each set of outcomes, bit n set when node n (heap
/// order) sent the row right. Indexed by all 16 lanes' outcomes, so no mask
/// is needed: the unused lane's cut tops are `u32::MAX`, which no value
/// passes, and the upper half is never read.
static EXITS: [u8; 1 << FANOUT] = exits();

const fn exits() -> [u8; 1 << FANOUT] {
    let mut table = [0u8; 1 << FANOUT];
    let mut outcomes = 0;
    while outcomes < table.len() {
        let mut at = 0;
        let mut level = 0;
        while level < LEVELS {
            at = 2 * at + 1 + ((outcomes >> at) & 1);
            level += 1;
        }
        table[outcomes] = (at - NODES) as u8;
        outcomes += 1;
    }
    table
}

/// The block layout of a forest's axis-cut trees (derived, never stored).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wide {
    trees: Vec<Tree>,
    /// The whole cuts, read only when a value's top bits tie a cut's, so
    /// kept only where [`Self::ties`] are looked for (empty otherwise).
    cuts: Vec<[[u64; FANOUT]; BLOCKS]>,
    /// Whether any cut is not [`SNAPPED`], so its ties must be looked for:
    /// true only of models grown before cuts were snapped, or with a node
    /// whose values were all within about a millionth of each other.
    ties: bool,
}

/// What fills a node of the layout.
#[derive(Clone, Copy)]
enum Source {
    Node(u32),
    /// Below a leaf: its path length.
    Leaf(f64),
}

impl Wide {
    /// Lays out the trees at `roots` (children after parents, as the scalar
    /// walk takes them), or `None` where this layout cannot score them.
    pub(crate) fn new(nodes: &[Node], roots: &[u32], depth: usize) -> Option<Self> {
        let narrow = |node: &Node| node.split == LEAF || (node.split as usize) < MAX_FEATURES;
        if !nodes.iter().all(narrow)
            || depth > MAX_DEPTH
            || !std::arch::is_x86_feature_detected!("avx512f")
        {
            return None;
        }
        let mut wide = Self {
            trees: Vec::with_capacity(roots.len()),
            cuts: Vec::with_capacity(roots.len()),
            ties: false,
        };
        for root in roots {
            let (tree, cuts) = lay_out(nodes, *root);
            wide.trees.push(tree);
            wide.ties |= cuts
                .as_flattened()
                .iter()
                .any(|cut| cut & SNAPPED != SNAPPED);
            wide.cuts.push(cuts);
        }
        if !wide.ties {
            wide.cuts = Vec::new();
        }
        Some(wide)
    }

    /// Whether ties between top bits are looked for (see `ties`).
    #[cfg(test)]
    pub(crate) fn ties(&self) -> bool {
        self.ties
    }

    /// The sum of one row's path lengths over every tree. Allocates nothing.
    pub(crate) fn row_total(&self, row: &[f64]) -> f64 {
        let row = Row::new(row);
        // SAFETY: a `Wide` exists only where the CPU has AVX-512F (`new`).
        unsafe {
            if self.ties {
                self.row_total_in::<true>(&row)
            } else {
                self.row_total_in::<false>(&row)
            }
        }
    }

    /// Adds each row's summed path lengths to `totals`; `rows` holds the rows
    /// one after another, `width` values each.
    pub(crate) fn block_totals(&self, rows: &[f64], width: usize, totals: &mut [f64]) {
        let mut wide = Vec::with_capacity(ROWS);
        for (block, out) in rows.chunks(ROWS * width).zip(totals.chunks_mut(ROWS)) {
            wide.clear();
            wide.extend(block.chunks_exact(width).map(Row::new));
            // SAFETY: a `Wide` exists only where the CPU has AVX-512F (`new`).
            unsafe {
                if self.ties {
                    self.add_totals::<true>(&wide, out)
                } else {
                    self.add_totals::<false>(&wide, out)
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    fn row_total_in<const TIES: bool>(&self, row: &Row) -> f64 {
        let (mut total, mut ties) = (0.0, 0);
        for tree in 0..self.trees.len() {
            let (end, tied) = self.end::<TIES>(tree, Block::new(&self.trees[tree], 0), row);
            total += end;
            ties |= tied;
        }
        if ties != 0 {
            return self.exact_total(0.0, row);
        }
        total
    }

    /// Two trees at a time over `rows`, so the trees stay in cache while
    /// every row walks them, and a row's two walks overlap; each total still
    /// adds the trees in order. Rows that tied a cut anywhere are summed
    /// again afterwards from whole values: handling a tie inside the loop
    /// would be a call there, and the registers it clobbers would be
    /// reloaded on every step.
    #[target_feature(enable = "avx512f")]
    fn add_totals<const TIES: bool>(&self, rows: &[Row], totals: &mut [f64]) {
        let mut before = [0.0; ROWS];
        before[..totals.len()].copy_from_slice(totals);
        let mut tied: u64 = 0;
        let pairs = self.trees.len() / 2;
        for pair in 0..pairs {
            let (one, two) = (2 * pair, 2 * pair + 1);
            let roots = (
                Block::new(&self.trees[one], 0),
                Block::new(&self.trees[two], 0),
            );
            for (at, (row, total)) in rows.iter().zip(totals.iter_mut()).enumerate() {
                let (first, ties_first) = self.end::<TIES>(one, roots.0, row);
                let (second, ties_second) = self.end::<TIES>(two, roots.1, row);
                *total = *total + first + second;
                tied |= u64::from(ties_first | ties_second != 0) << at;
            }
        }
        if self.trees.len() % 2 == 1 {
            let last = self.trees.len() - 1;
            let root = Block::new(&self.trees[last], 0);
            for (at, (row, total)) in rows.iter().zip(totals.iter_mut()).enumerate() {
                let (end, ties) = self.end::<TIES>(last, root, row);
                *total += end;
                tied |= u64::from(ties != 0) << at;
            }
        }
        while tied != 0 {
            let at = tied.trailing_zeros() as usize;
            tied &= tied - 1;
            totals[at] = self.exact_total(before[at], &rows[at]);
        }
    }

    /// The path length of `row` through `tree`, whose root block is `root`,
    /// and the nodes whose cut's top bits tied the row's value (the path
    /// length is right only where there are none).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn end<const TIES: bool>(&self, tree: usize, root: Block, row: &Row) -> (f64, u16) {
        let walked = &self.trees[tree];
        let values = load(&row.tops);
        let (first, ties_first) = exit::<TIES>(root, values);
        let (second, ties_second) = exit::<TIES>(Block::new(walked, 1 + first), values);
        (walked.ends[first][second], ties_first | ties_second)
    }

    /// `total` plus `row`'s path lengths through every tree, in order,
    /// comparing whole values.
    #[cold]
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    fn exact_total(&self, mut total: f64, row: &Row) -> f64 {
        for tree in 0..self.trees.len() {
            let first = self.exact_exit(tree, 0, &row.values);
            let second = self.exact_exit(tree, 1 + first, &row.values);
            total += self.trees[tree].ends[first][second];
        }
        total
    }

    /// The exit (0..16) a row takes through a block, from whole values,
    /// eight to a vector.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exact_exit(&self, tree: usize, at: usize, row: &[u64; MAX_FEATURES]) -> usize {
        let cuts = &self.cuts[tree][at];
        let features = &self.trees[tree].features[at];
        let (features_low, features_high) = features.split_at(FANOUT / 2);
        let (low, high) = (load_wide(row, 0), load_wide(row, 8));
        // A feature index's fourth bit picks `high`: features 8 to 15.
        let values_low = _mm512_permutex2var_epi64(low, bytes_to_lanes(features_low), high);
        let values_high = _mm512_permutex2var_epi64(low, bytes_to_lanes(features_high), high);
        let right = u32::from(_mm512_cmpgt_epu64_mask(values_low, load_wide(cuts, 0)))
            | u32::from(_mm512_cmpgt_epu64_mask(values_high, load_wide(cuts, 8))) << 8;
        usize::from(EXITS[(right as usize) & ((1 << NODES) - 1)]) & (FANOUT - 1)
    }
}

/// The exit (0..16) a row takes through a block, from its values' top bits
/// put in node order and compared with the cuts' top bits, and the nodes
/// where they tie (then only the whole values can tell).
#[inline]
#[target_feature(enable = "avx512f")]
fn exit<const TIES: bool>(block: Block, values: __m512i) -> (usize, u16) {
    let values = _mm512_permutexvar_epi32(block.features, values);
    let ties = if TIES {
        _mm512_cmpeq_epi32_mask(values, block.tops)
    } else {
        0
    };
    let right = _mm512_cmpgt_epu32_mask(values, block.tops);
    (usize::from(EXITS[usize::from(right)]) & (FANOUT - 1), ties)
}

/// Fills one tree's blocks and ends from its nodes, depth first.
fn lay_out(nodes: &[Node], root: u32) -> (Tree, [[u64; FANOUT]; BLOCKS]) {
    let mut cuts = [[u64::MAX; FANOUT]; BLOCKS];
    let mut tree = Tree {
        tops: [[0; FANOUT]; BLOCKS],
        features: [[0; FANOUT]; BLOCKS],
        ends: [[0.0; FANOUT]; FANOUT],
    };
    // (block, node within the block, source)
    let mut pending = vec![(0, 0, Source::Node(root))];
    while let Some((block, slot, source)) = pending.pop() {
        let (cut, feature, children) = match source {
            Source::Node(at) if nodes[at as usize].split != LEAF => {
                let node = nodes[at as usize];
                let children = [Source::Node(node.left), Source::Node(node.left + 1)];
                (ordered(node.value), node.split as u8, children)
            }
            Source::Node(at) => (u64::MAX, 0, [Source::Leaf(nodes[at as usize].value); 2]),
            Source::Leaf(length) => (u64::MAX, 0, [Source::Leaf(length); 2]),
        };
        cuts[block][slot] = cut;
        tree.features[block][slot] = feature;
        for (side, child) in children.into_iter().enumerate() {
            if slot < NODES / 2 {
                pending.push((block, 2 * slot + 1 + side, child));
                continue;
            }
            let exit = 2 * (slot - NODES / 2) + side;
            if block == 0 {
                pending.push((1 + exit, 0, child));
                continue;
            }
            tree.ends[block - 1][exit] = match child {
                Source::Leaf(length) => length,
                // The layout is as deep as any tree it takes, so a node at
                // an end is a leaf.
                Source::Node(at) => nodes[at as usize].value,
            };
        }
    }
    for (tops, cuts) in tree.tops.iter_mut().zip(&cuts) {
        *tops = cuts.map(|cut| (cut >> 32) as u32);
    }
    (tree, cuts)
}

/// One block's features and cut tops in vectors.
#[derive(Clone, Copy)]
struct Block {
    features: __m512i,
    tops: __m512i,
}

impl Block {
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn new(tree: &Tree, at: usize) -> Self {
        let features = &tree.features[at];
        // SAFETY: the reference covers the sixteen bytes the load reads.
        let features = unsafe { _mm_loadu_si128(features.as_ptr().cast()) };
        Self {
            features: _mm512_cvtepu8_epi32(features),
            tops: load(&tree.tops[at]),
        }
    }
}

/// A row's first sixteen values (all the trees cut) as [`ordered`]
/// integers, padded with zeros, and their top 32 bits.
struct Row {
    values: [u64; MAX_FEATURES],
    tops: [u32; MAX_FEATURES],
}

impl Row {
    fn new(row: &[f64]) -> Self {
        let mut values = [0; MAX_FEATURES];
        for (to, value) in values.iter_mut().zip(row) {
            *to = ordered(*value);
        }
        Self {
            values,
            tops: values.map(|value| (value >> 32) as u32),
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn load(values: &[u32; 16]) -> __m512i {
    // SAFETY: the load reads the sixteen values of the array.
    unsafe { _mm512_loadu_epi32(values.as_ptr().cast()) }
}

/// Eight of `values` from `from` on.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_wide(values: &[u64; 16], from: usize) -> __m512i {
    let eight: &[u64; 8] = values[from..from + 8].try_into().expect("eight values");
    // SAFETY: the load reads the eight values of `eight`.
    unsafe { _mm512_loadu_epi64(eight.as_ptr().cast()) }
}

/// Eight feature indices, widened to the 64-bit lanes a permute reads.
#[inline]
#[target_feature(enable = "avx512f")]
fn bytes_to_lanes(features: &[u8]) -> __m512i {
    let features: &[u8; 8] = features.try_into().expect("eight features");
    // SAFETY: the reference covers the eight bytes the load reads.
    _mm512_cvtepu8_epi64(unsafe { _mm_loadl_epi64(features.as_ptr().cast()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_table_follows_each_level_s_outcome() {
        assert_eq!(EXITS[0], 0, "all left");
        assert_eq!(EXITS[(1 << NODES) - 1], 15, "all right");
        // Right at the root (node 0), left at node 2, right at node 5, left
        // at node 12: exit 0b1010.
        assert_eq!(EXITS[1 | 1 << 5], 0b1010);
        // Outcomes of nodes off the path do not matter.
        assert_eq!(EXITS[1 | 1 << 5 | 1 << 1 | 1 << 3 | 1 << 11], 0b1010);
    }
}
