"""Our isolation forest beside scikit-learn's, on the same data and settings.

    compare.py gate  <bench-forest> [seeds]    ROC-AUC on every data set; exits 1
                                               unless ours is within 0.01 of
                                               scikit-learn's mean on each
    compare.py speed <bench-forest> [rows]     fit, batch and one-row scoring
                                               times on one thread, side by side

Both settings are scikit-learn's defaults that the paper also uses: 100
trees, subsamples of 256, every feature, contamination "auto". `<bench-forest>`
is the Rust side (scripts/bench/src/forest.rs); it reads the same CSV files.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "ml" / "forest" / "data"
TREES, SAMPLE = 100, 256
TOLERANCE = 0.01


def blobs(rows, features, share, seed):
    """Gaussian blobs with anomalies planted uniformly around them."""
    rng = np.random.RandomState(seed)
    anomalies = int(rows * share)
    centres = rng.uniform(-5, 5, size=(3, features))
    inliers = np.vstack([c + rng.normal(size=((rows - anomalies) // 3 + 1, features)) for c in centres])
    inliers = inliers[: rows - anomalies]
    planted = rng.uniform(-8, 8, size=(anomalies, features))
    x = np.vstack([inliers, planted])
    y = np.r_[np.zeros(len(inliers)), np.ones(anomalies)].astype(int)
    return x, y


def write_csv(path, x, y):
    with open(path, "w") as f:
        for row, label in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")


def read_csv(path):
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def sklearn_auc(x, y, seed):
    model = IsolationForest(n_estimators=TREES, max_samples=min(SAMPLE, len(x)), random_state=seed, n_jobs=1)
    model.fit(x)
    return roc_auc_score(y, -model.score_samples(x))


def ours(binary, *args):
    out = subprocess.run([binary, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def gate(binary, seeds):
    work = pathlib.Path(tempfile.mkdtemp(prefix="forest-gate-"))
    sets = [("breast_cancer", DATA / "breast_cancer.csv"), ("wine", DATA / "wine.csv")]
    for name, (rows, features, share, seed) in {
        "blobs_8d": (1000, 8, 0.05, 1),
        "blobs_16d": (3000, 16, 0.02, 2),
    }.items():
        path = work / f"{name}.csv"
        write_csv(path, *blobs(rows, features, share, seed))
        sets.append((name, path))
    failed = False
    print(f"ROC-AUC, mean over seeds 0..{seeds - 1}; {TREES} trees, subsample {SAMPLE}")
    print(f"{'data set':<15}{'scikit-learn':>14}{'ours':>14}{'ours extended':>15}{'|diff|':>9}  gate")
    for name, path in sets:
        x, y = read_csv(path)
        theirs = [sklearn_auc(x, y, s) for s in range(seeds)]
        mine = [r["auc"] for r in ours(binary, "auc", path, TREES, SAMPLE, seeds)]
        extended = [r["auc"] for r in ours(binary, "auc", path, TREES, SAMPLE, seeds, "extended")]
        diff = abs(statistics.mean(mine) - statistics.mean(theirs))
        ok = diff <= TOLERANCE
        failed |= not ok
        fmt = lambda v: f"{statistics.mean(v):.4f}±{statistics.pstdev(v):.3f}"
        print(f"{name:<15}{fmt(theirs):>14}{fmt(mine):>14}{fmt(extended):>15}{diff:>9.4f}  {'pass' if ok else 'FAIL'}")
    return 1 if failed else 0


def speed(binary, rows):
    work = pathlib.Path(tempfile.mkdtemp(prefix="forest-speed-"))
    path = work / "speed.csv"
    x, y = blobs(rows, 16, 0.01, 3)
    write_csv(path, x, y)
    x, y = read_csv(path)
    repeats = 5
    ours_figures = ours(binary, "speed", path, TREES, SAMPLE, repeats)[0]

    fits, batches = [], []
    for seed in range(repeats):
        model = IsolationForest(n_estimators=TREES, max_samples=SAMPLE, random_state=seed, n_jobs=1)
        started = time.perf_counter()
        model.fit(x)
        fits.append(time.perf_counter() - started)
    for _ in range(repeats):
        started = time.perf_counter()
        model.score_samples(x)
        batches.append(time.perf_counter() - started)
    singles = []
    for i in range(2000):
        row = x[i : i + 1]
        started = time.perf_counter()
        model.score_samples(row)
        singles.append(time.perf_counter() - started)
    singles.sort()
    theirs = {
        "fit_s": statistics.median(fits),
        "score_all_s": statistics.median(batches),
        "one_row_p50_us": singles[len(singles) // 2] * 1e6,
        "one_row_p99_us": singles[int((len(singles) - 1) * 0.99)] * 1e6,
    }
    print(f"{rows} rows x 16 features, {TREES} trees, subsample {SAMPLE}, one thread, median of {repeats}")
    print(f"{'':<18}{'scikit-learn':>14}{'ours':>12}{'ours faster':>13}")
    for key, label in [("fit_s", "fit (s)"), ("score_all_s", "score all (s)"),
                       ("one_row_p50_us", "one row p50 (µs)"), ("one_row_p99_us", "one row p99 (µs)")]:
        print(f"{label:<18}{theirs[key]:>14.4f}{ours_figures[key]:>12.4f}{theirs[key] / ours_figures[key]:>12.1f}×")
    import sklearn
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("gate", "speed"):
        sys.exit(__doc__)
    binary = sys.argv[2]
    if sys.argv[1] == "gate":
        sys.exit(gate(binary, int(sys.argv[3]) if len(sys.argv) > 3 else 10))
    sys.exit(speed(binary, int(sys.argv[3]) if len(sys.argv) > 3 else 100_000))
