//! The forest's properties, its quality on labelled data, and its errors.

use aerostic_forest::{ForestError, IsolationForest, Splits, labelled_csv, roc_auc};
use linfa::ParamGuard;
use linfa::prelude::*;
use ndarray::{Array1, Array2, s};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Three Gaussian blobs of `inliers` rows and `planted` rows scattered well
/// outside them, last. Labels: `true` for the planted rows.
fn planted(inliers: usize, planted: usize, features: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let normal = move |rng: &mut Xoshiro256PlusPlus| {
        let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let centres: Vec<Vec<f64>> = (0..3)
        .map(|_| (0..features).map(|_| rng.random_range(-4.0..4.0)).collect())
        .collect();
    let mut data = Array2::zeros((inliers + planted, features));
    for i in 0..inliers {
        for j in 0..features {
            data[[i, j]] = centres[i % 3][j] + normal(&mut rng);
        }
    }
    for i in inliers..inliers + planted {
        for j in 0..features {
            // Beyond every blob on at least this axis: |x| in 9..12.
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            data[[i, j]] = side * rng.random_range(9.0..12.0);
        }
    }
    let labels = (0..inliers + planted).map(|i| i >= inliers).collect();
    (data, labels)
}

fn fit(data: &Array2<f64>, params: aerostic_forest::IsolationForestParams) -> IsolationForest {
    params.fit(&Dataset::from(data.clone())).expect("fits")
}

fn auc_of(model: &IsolationForest, data: &Array2<f64>, labels: &[bool]) -> f64 {
    let scores = model.score_samples(data).unwrap();
    roc_auc(scores.as_slice().unwrap(), labels).unwrap()
}

#[test]
fn planted_anomalies_score_higher_than_every_inlier_with_either_kind_of_split() {
    let (data, _) = planted(600, 12, 6, 1);
    for splits in [
        Splits::Axis,
        Splits::Extended { level: None },
        Splits::Extended { level: Some(1) },
    ] {
        let model = fit(&data, IsolationForest::params().splits(splits).seed(3));
        let scores = model.score_samples(&data).unwrap();
        let lowest_planted = scores
            .slice(s![600..])
            .fold(f64::INFINITY, |a, b| a.min(*b));
        let highest_inlier = scores.slice(s![..600]).fold(0.0_f64, |a, b| a.max(*b));
        assert!(
            lowest_planted > highest_inlier,
            "{splits:?}: {lowest_planted} <= {highest_inlier}"
        );
        assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
    }
}

#[test]
fn the_same_seed_gives_the_same_model_on_any_number_of_threads() {
    let (data, _) = planted(500, 5, 4, 2);
    let on = |threads: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fit(&data, IsolationForest::params().seed(seed)))
    };
    let one = on(1, 11);
    assert_eq!(one, on(2, 11));
    assert_eq!(
        one.score_samples(&data).unwrap(),
        on(2, 11).score_samples(&data).unwrap()
    );
    assert_ne!(
        one.score_samples(&data).unwrap(),
        on(1, 12).score_samples(&data).unwrap()
    );
}

#[test]
fn a_model_read_back_from_bytes_scores_exactly_the_same() {
    let (data, _) = planted(400, 8, 5, 3);
    for splits in [Splits::Axis, Splits::Extended { level: None }] {
        let model = fit(
            &data,
            IsolationForest::params().splits(splits).contamination(0.02),
        );
        let bytes = model.to_bytes();
        let back = IsolationForest::from_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(
            back.score_samples(&data).unwrap(),
            model.score_samples(&data).unwrap()
        );
        assert_eq!(back.threshold(), model.threshold());
    }
}

#[test]
fn a_model_of_another_format_or_with_corrupt_bytes_is_refused() {
    let (data, _) = planted(300, 3, 3, 4);
    let bytes = fit(&data, IsolationForest::params().trees(5)).to_bytes();
    // The format is the first varint: 1 today.
    assert_eq!(bytes[0], aerostic_forest::FORMAT as u8);
    let mut future = bytes.clone();
    future[0] = 2;
    assert!(matches!(
        IsolationForest::from_bytes(&future),
        Err(ForestError::Format(2))
    ));
    assert!(matches!(
        IsolationForest::from_bytes(&bytes[..bytes.len() / 2]),
        Err(ForestError::Corrupt(_))
    ));
    assert!(matches!(
        IsolationForest::from_bytes(&[]),
        Err(ForestError::Corrupt(_))
    ));
}

#[test]
fn a_model_whose_nodes_point_backwards_is_refused_rather_than_looping() {
    let (data, _) = planted(300, 3, 3, 5);
    let model = fit(&data, IsolationForest::params().trees(2));
    let mut value = serde_json::to_value(&model).unwrap();
    let nodes = value["nodes"].as_array_mut().unwrap();
    let inner = nodes.iter().position(|n| n["split"] != u32::MAX).unwrap();
    nodes[inner + 1]["left"] = serde_json::json!(0);
    nodes[inner + 1]["split"] = serde_json::json!(0);
    let error = serde_json::from_value::<IsolationForest>(value).unwrap_err();
    assert!(
        error.to_string().contains("a child out of place"),
        "{error}"
    );
}

#[test]
fn invalid_parameters_are_refused_with_the_value_at_fault() {
    let p = IsolationForest::params;
    let cases = [
        (
            p().trees(0).check().unwrap_err(),
            "trees must be at least 1 (got 0)",
        ),
        (
            p().sample_size(1).check().unwrap_err(),
            "sample_size must be at least 2 (got 1)",
        ),
        (
            p().max_features(0.0).check().unwrap_err(),
            "max_features must be in (0, 1] (got 0)",
        ),
        (
            p().max_features(1.5).check().unwrap_err(),
            "max_features must be in (0, 1] (got 1.5)",
        ),
        (
            p().max_features(f64::NAN).check().unwrap_err(),
            "max_features must be in (0, 1] (got NaN)",
        ),
        (
            p().contamination(0.6).check().unwrap_err(),
            "contamination must be in (0, 0.5] (got 0.6)",
        ),
        (
            p().contamination(0.0).check().unwrap_err(),
            "contamination must be in (0, 0.5] (got 0)",
        ),
        (
            p().score_threshold(1.0).check().unwrap_err(),
            "the score threshold must be in (0, 1) (got 1)",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
    assert!(p().check().is_ok());
    // Fitting through linfa checks first.
    let rows = Array2::from_shape_fn((10, 2), |(i, j)| (i * 2 + j) as f64);
    assert!(matches!(
        p().trees(0).fit(&Dataset::from(rows)),
        Err(ForestError::Trees(0))
    ));
}

#[test]
fn data_that_cannot_be_fitted_or_scored_is_refused_with_where_it_is_wrong() {
    let params = IsolationForest::params();
    let one_row = Array2::from_elem((1, 3), 1.0);
    assert_eq!(
        params.fit(&Dataset::from(one_row)).unwrap_err().to_string(),
        "need at least 2 rows to fit (got 1)"
    );
    let no_features = Array2::<f64>::zeros((5, 0));
    assert!(matches!(
        params.fit(&Dataset::from(no_features)),
        Err(ForestError::NoFeatures)
    ));
    let mut holes = Array2::from_elem((5, 3), 1.0);
    holes[[3, 2]] = f64::NAN;
    assert_eq!(
        params.fit(&Dataset::from(holes)).unwrap_err().to_string(),
        "row 3, feature 2 is not a finite number"
    );
    let wide = Array2::from_shape_fn((20, 3), |(i, j)| (i + j) as f64);
    let error = params
        .clone()
        .splits(Splits::Extended { level: Some(3) })
        .fit(&Dataset::from(wide.clone()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "extension level 3 needs more than 3 features per tree (a tree sees 3)"
    );

    let model = fit(&wide, IsolationForest::params());
    assert_eq!(
        model.score_row(&[1.0, 2.0]).unwrap_err().to_string(),
        "the model expects 3 features (got 2)"
    );
    assert!(matches!(
        model.score_samples(&Array2::zeros((2, 4))),
        Err(ForestError::FeatureCount {
            expected: 3,
            got: 4
        })
    ));
}

#[test]
fn contamination_labels_that_share_of_the_training_rows() {
    let (data, _) = planted(950, 50, 4, 6);
    let model = fit(&data, IsolationForest::params().contamination(0.05));
    let labels: Array1<bool> = model.predict(&data);
    let flagged = labels.iter().filter(|l| **l).count();
    assert!((49..=51).contains(&flagged), "{flagged} of 1000 flagged");
    // Most of what it flags is what was planted.
    assert!(labels.slice(s![950..]).iter().filter(|l| **l).count() >= 45);
}

#[test]
fn the_default_threshold_flags_planted_rows_and_a_single_row_scores_as_in_a_batch() {
    let (data, labels) = planted(800, 8, 5, 7);
    let model = fit(&data, IsolationForest::params());
    assert_eq!(model.threshold(), 0.5);
    let predicted: Array1<bool> = model.predict(&data);
    assert!(predicted.slice(s![800..]).iter().all(|l| *l));
    let batch = model.score_samples(&data).unwrap();
    for (i, row) in data.rows().into_iter().enumerate().step_by(97) {
        assert_eq!(model.score_row(row.as_slice().unwrap()).unwrap(), batch[i]);
    }
    // A strided view scores like the contiguous rows.
    let transposed = data.t().to_owned();
    assert_eq!(model.score_samples(&transposed.t()).unwrap(), batch);
    assert!(auc_of(&model, &data, &labels) > 0.99);
}

/// scikit-learn 1.7.2's mean ROC-AUC over `random_state` 0..9 with the same
/// settings (100 trees, subsample 256), from `scripts/forest/gate.sh`.
const SKLEARN_MEAN_AUC: [(&str, f64); 2] = [("breast_cancer", 0.9202), ("wine", 0.9177)];

#[test]
fn on_the_bundled_outlier_sets_the_mean_auc_is_within_a_hundredth_of_scikit_learns() {
    for (name, theirs) in SKLEARN_MEAN_AUC {
        let path = format!("{}/data/{name}.csv", env!("CARGO_MANIFEST_DIR"));
        let (data, labels) = labelled_csv(&std::fs::read_to_string(path).unwrap()).unwrap();
        let aucs: Vec<f64> = (0..10)
            .map(|seed| {
                auc_of(
                    &fit(&data, IsolationForest::params().seed(seed)),
                    &data,
                    &labels,
                )
            })
            .collect();
        let ours = aucs.iter().sum::<f64>() / aucs.len() as f64;
        assert!(
            (ours - theirs).abs() <= 0.01,
            "{name}: ours {ours:.4}, scikit-learn {theirs:.4}"
        );
    }
}

#[test]
fn on_synthetic_blobs_the_auc_is_near_perfect_for_every_seed() {
    let (data, labels) = planted(2000, 40, 16, 8);
    for seed in 0..5 {
        let auc = auc_of(
            &fit(&data, IsolationForest::params().seed(seed)),
            &data,
            &labels,
        );
        assert!(auc > 0.99, "seed {seed}: {auc}");
    }
}

#[test]
fn fewer_rows_than_the_sample_size_use_them_all() {
    let (data, _) = planted(60, 2, 3, 9);
    let model = fit(&data, IsolationForest::params().sample_size(256).trees(7));
    assert_eq!(model.sample_size(), 62);
    assert_eq!(model.trees(), 7);
    assert_eq!(model.features(), 3);
}
