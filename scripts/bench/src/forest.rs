//! The isolation forest's side of two comparisons with scikit-learn, run by
//! `scripts/forest/gate.py` (quality) and `scripts/bench/forest.sh` (speed),
//! which feed both the same data.
//!
//! - `bench-forest auc <csv> <trees> <sample> <seeds> [axis|extended]`: one
//!   JSON line per seed 0..seeds with that seed's ROC-AUC on the labelled CSV.
//! - `bench-forest speed <csv> <trees> <sample> <repeats>`: on one thread,
//!   the fit, the whole set's scoring and one-row scoring latency, as JSON.

use std::time::{Duration, Instant};

use aerostic_forest::{IsolationForest, Splits, labelled_csv, roc_auc};
use anyhow::{Context, bail};
use linfa::prelude::*;
use ndarray::Array2;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, name: &str| -> anyhow::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .with_context(|| format!("missing <{name}>"))
    };
    let number = |i: usize, name: &str| -> anyhow::Result<usize> {
        arg(i, name)?
            .parse()
            .with_context(|| format!("<{name}> is not a count"))
    };
    let (data, labels) = read(arg(1, "csv")?)?;
    let (trees, sample) = (number(2, "trees")?, number(3, "sample")?);
    match arg(0, "auc|speed")? {
        "auc" => {
            let splits = match args.get(5).map(String::as_str) {
                None | Some("axis") => Splits::Axis,
                Some("extended") => Splits::Extended { level: None },
                Some(other) => bail!("unknown splits {other:?}"),
            };
            for seed in 0..number(4, "seeds")? as u64 {
                let model = fit(&data, trees, sample, seed, splits)?;
                let scores = model.score_samples(&data)?;
                let auc = roc_auc(scores.as_slice().expect("contiguous"), &labels)
                    .context("the data needs both inliers and anomalies")?;
                println!("{}", json!({"seed": seed, "auc": auc}));
            }
        }
        "speed" => speed(&data, trees, sample, number(4, "repeats")?)?,
        other => bail!("unknown command {other:?}: auc or speed"),
    }
    Ok(())
}

fn read(path: &str) -> anyhow::Result<(Array2<f64>, Vec<bool>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    labelled_csv(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))
}

fn fit(
    data: &Array2<f64>,
    trees: usize,
    sample: usize,
    seed: u64,
    splits: Splits,
) -> anyhow::Result<IsolationForest> {
    Ok(IsolationForest::params()
        .trees(trees)
        .sample_size(sample)
        .splits(splits)
        .seed(seed)
        .fit(&Dataset::from(data.clone()))?)
}

/// Single-threaded, as scikit-learn is with `n_jobs=1`.
fn speed(data: &Array2<f64>, trees: usize, sample: usize, repeats: usize) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    pool.install(|| {
        let dataset = Dataset::from(data.clone());
        let mut fits = Vec::new();
        let mut model = None;
        for seed in 0..repeats as u64 {
            let params = IsolationForest::params()
                .trees(trees)
                .sample_size(sample)
                .seed(seed);
            let started = Instant::now();
            model = Some(params.fit(&dataset)?);
            fits.push(started.elapsed());
        }
        let model = model.context("repeats must be at least 1")?;
        let mut batches = Vec::new();
        for _ in 0..repeats {
            let started = Instant::now();
            std::hint::black_box(model.score_samples(data)?);
            batches.push(started.elapsed());
        }
        // One call per row, as the service scores a window when it changes.
        let rows = data.nrows().min(20_000);
        let mut singles = Vec::with_capacity(rows);
        for row in data.rows().into_iter().take(rows) {
            let values = row.as_slice().expect("contiguous");
            let started = Instant::now();
            std::hint::black_box(model.score_row(values)?);
            singles.push(started.elapsed());
        }
        singles.sort();
        let at = |q: f64| micros(singles[((singles.len() - 1) as f64 * q) as usize]);
        println!(
            "{}",
            json!({
                "rows": data.nrows(), "features": data.ncols(), "trees": trees, "sample": sample,
                "fit_s": seconds(median(&mut fits)),
                "score_all_s": seconds(median(&mut batches)),
                "one_row_p50_us": at(0.5), "one_row_p99_us": at(0.99),
            })
        );
        Ok(())
    })
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
