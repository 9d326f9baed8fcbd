//! What a recipient's number costs the send path: parsing it and finding its
//! country (the price's), per number, for `+1` numbers (North America: one
//! calling code shared by 25 regions, the costliest case) and for `+55`
//! (one region). Ours (`PhoneNumber::parse` then `country`) beside a plain
//! parse with no hint, which searches the regions once more.
//!
//! `cargo build --release -p aerostic-bench`, then
//! `target/release/bench-phone [numbers]` (100,000 unless given; each way
//! runs three times, alternated, and its best is printed).

use std::hint::black_box;
use std::time::Instant;

use aerostic_kit::phone::PhoneNumber;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    println!("parse and country, ns per number (one thread, {n} numbers)");
    for (name, prefix) in [("+1 415", "1415"), ("+55 11 9", "55119")] {
        let numbers: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{prefix}{:0width$}",
                    i % 10_000_000,
                    width = 13 - prefix.len()
                )
            })
            .collect();
        let ours = |raw: &str| {
            let phone = PhoneNumber::parse(raw).expect("a valid number");
            phone.country()
        };
        let unhinted = |raw: &str| {
            let parsed = phonenumber::parse(None, format!("+{raw}")).expect("a valid number");
            parsed.country().id().map(|id| id.as_ref().to_string())
        };
        // Alternated, the best of three each: the order must not decide.
        let (mut best_ours, mut best_unhinted) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            best_ours = best_ours.min(time(&numbers, ours));
            best_unhinted = best_unhinted.min(time(&numbers, unhinted));
        }
        let (ours, unhinted) = (best_ours, best_unhinted);
        println!("  {name}…: ours {ours:.0}, a parse without a hint {unhinted:.0}");
    }
}

/// Mean nanoseconds of `f` over `numbers` (after one warm-up pass).
fn time(numbers: &[String], f: impl Fn(&str) -> Option<String>) -> f64 {
    for raw in numbers.iter().take(1_000) {
        black_box(f(raw));
    }
    let start = Instant::now();
    for raw in numbers {
        black_box(f(raw));
    }
    start.elapsed().as_nanos() as f64 / numbers.len() as f64
}
