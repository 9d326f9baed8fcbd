//! The paper's c(n): the average path length of an unsuccessful search in a
//! binary search tree of n points, used both to finish a path that ended in a
//! leaf still holding several points and to normalise scores.

/// Euler–Mascheroni constant, for the harmonic number estimate H(i) ≈ ln(i) + γ.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// c(n) = 2H(n − 1) − 2(n − 1)/n, with c(1) = 0 and c(2) = 1.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_trees_have_the_exact_lengths() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2(ln 255 + γ) − 2·255/256
        assert!((average_path_length(256) - 10.244_770_920_9).abs() < 1e-6);
    }
}
