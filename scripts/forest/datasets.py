"""Writes the outlier data sets the forest is gated on (ml/forest/data/).

Both come from copies that ship inside scikit-learn, so nothing is fetched:
- breast_cancer: the Wisconsin diagnostic set; every benign tumour is an
  inlier and every fifth malignant one (in file order) an anomaly, 43 of 400.
- wine: cultivars 0 and 1 are inliers and every fourth wine of cultivar 2 an
  anomaly, 12 of 142.
Each CSV row is the features, then the label (1 = anomaly).
"""

import csv
import pathlib

from sklearn.datasets import load_breast_cancer, load_wine

OUT = pathlib.Path(__file__).resolve().parents[2] / "ml" / "forest" / "data"


def write(name, rows):
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        for features, label in rows:
            w.writerow([repr(float(v)) for v in features] + [label])


def breast_cancer():
    d = load_breast_cancer()
    malignant = 0  # scikit-learn's target: 0 = malignant, 1 = benign
    rows, seen = [], 0
    for x, y in zip(d.data, d.target):
        if y != malignant:
            rows.append((x, 0))
        else:
            if seen % 5 == 0:
                rows.append((x, 1))
            seen += 1
    return rows


def wine():
    d = load_wine()
    rows, seen = [], 0
    for x, y in zip(d.data, d.target):
        if y != 2:
            rows.append((x, 0))
        else:
            if seen % 4 == 0:
                rows.append((x, 1))
            seen += 1
    return rows


if __name__ == "__main__":
    for name, rows in [("breast_cancer", breast_cancer()), ("wine", wine())]:
        write(name, rows)
        print(f"{name}: {len(rows)} rows, {sum(l for _, l in rows)} anomalies")
