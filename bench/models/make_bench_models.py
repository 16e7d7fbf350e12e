#!/usr/bin/python3
# Benchmark models for sluice's XGBoost evaluator: `/usr/bin/python3 bench/models/make_bench_models.py OUT_DIR`
# writes d6x100.json, d8x500.json (binary:logistic, 32 features) and rows.f32 into OUT_DIR.
# Outputs are large and NOT committed; bench runs generate them into a cache dir.
"""
Outputs (all deterministic: numpy seed 20240501, xgboost seed 0):
  d6x100.json        max_depth 6, 100 trees, 32 features, binary:logistic, hist
  d8x500.json        max_depth 8, 500 trees, 32 features, binary:logistic, hist
  rows.f32           10,000 rows x 32 float32, little-endian, row-major, ~2% NaN
  <model>.pred.f32   xgboost 1.7.4's predictions (probabilities) for rows.f32, float32 LE,
                     one per row - lets a bench sanity-check its evaluator output.
Trained on 20,000 synthetic rows with min_child_weight 0, gamma 0, small lambda, so trees are
close to full (up to 2^depth leaves).  Needs Debian's python3-xgboost 1.7.4 (/usr/bin/python3).
"""

import os
import sys
import time

import numpy as np
import xgboost as xgb

N_TRAIN = 20_000
N_ROWS = 10_000
N_FEAT = 32
SEED = 20240501


def make_data(rng, n):
    X = np.empty((n, N_FEAT), dtype=np.float32)
    for j in range(N_FEAT):
        k = j % 4
        if k == 0:
            X[:, j] = rng.normal(size=n)
        elif k == 1:
            X[:, j] = rng.uniform(-1, 1, size=n)
        elif k == 2:
            X[:, j] = rng.integers(0, 50, size=n)
        else:
            X[:, j] = rng.exponential(2.0, size=n)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X


def label(rng, X):
    Z = np.nan_to_num(X.astype(np.float64), nan=0.0)
    s = (np.sin(Z[:, 0] * 2) + Z[:, 1] * Z[:, 4] + 0.05 * Z[:, 2] - 0.3 * Z[:, 3]
         + np.cos(Z[:, 5] * Z[:, 8]) + 0.5 * np.tanh(Z[:, 9:20].sum(1) / 3)
         + 0.2 * (Z[:, 20:32] > 0.5).sum(1) - 1.2)
    p = 1 / (1 + np.exp(-s))
    return (rng.random(len(X)) < p).astype(np.float32)


def main():
    if len(sys.argv) != 2:
        print("usage: /usr/bin/python3 %s OUT_DIR" % sys.argv[0], file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    X = make_data(rng, N_TRAIN)
    y = label(rng, X)
    dtrain = xgb.DMatrix(X, label=y, missing=np.nan, nthread=2)
    rows = make_data(rng, N_ROWS)
    rows.astype("<f4").tofile(os.path.join(out, "rows.f32"))
    drows = xgb.DMatrix(rows, missing=np.nan, nthread=2)
    base = {"objective": "binary:logistic", "tree_method": "hist", "nthread": 2, "seed": 0,
            "min_child_weight": 0, "gamma": 0, "lambda": 0.01, "eta": 0.05, "max_bin": 256,
            "verbosity": 0}
    for name, depth, rounds in (("d6x100", 6, 100), ("d8x500", 8, 500)):
        t0 = time.time()
        b = xgb.train(dict(base, max_depth=depth), dtrain, rounds)
        path = os.path.join(out, name + ".json")
        b.save_model(path)
        pred = b.predict(drows).astype("<f4")
        pred.tofile(os.path.join(out, name + ".pred.f32"))
        dump = b.get_dump()
        leaves = sum(t.count("leaf=") for t in dump)
        print("%s: %d trees, %.1f leaves/tree (max %d), %.1f MB, trained in %.1fs" % (
            name, len(dump), leaves / len(dump), 2 ** depth, os.path.getsize(path) / 1e6,
            time.time() - t0))
    print("rows.f32: %d x %d float32, %.1f%% NaN" % (N_ROWS, N_FEAT, 100 * np.isnan(rows).mean()))
    make_pipeline_model(out)
    return 0


# The pipeline bench scores the example job's seven window features with a model of SPEC §9's
# size (100 trees, depth 6). What it predicts does not matter; its shape and names do.
PIPELINE_FEATURES = ["tx_count", "amount_sum", "amount_mean", "amount_min", "amount_max", "amount_std", "amount_p95"]


def make_pipeline_model(out):
    rng = np.random.default_rng(SEED + 1)
    n = 20000
    count = rng.integers(1, 400, n).astype(np.float32)
    mean = np.exp(rng.normal(3.4, 0.9, n)).astype(np.float32)
    X = np.column_stack([count, count * mean, mean, mean * 0.1, mean * 6, mean * 0.8, mean * 3]).astype(np.float32)
    y = (X[:, 4] > np.percentile(X[:, 4], 95)).astype(int)
    d = xgb.DMatrix(X, label=y, feature_names=PIPELINE_FEATURES, nthread=2)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2, "seed": 0,
                   "min_child_weight": 0, "lambda": 0.01, "verbosity": 0}, d, 100)
    b.save_model(os.path.join(out, "pipeline-d6x100.json"))
    print("pipeline-d6x100.json: 100 trees over the example job's 7 features")
    # The reload bench's new version (SPEC §9: a new 500-tree model file in force within pollMs + 1 s).
    b = xgb.train({"objective": "binary:logistic", "max_depth": 8, "eta": 0.05, "nthread": 2, "seed": 1,
                   "min_child_weight": 0, "lambda": 0.01, "verbosity": 0}, d, 500)
    b.save_model(os.path.join(out, "pipeline-d8x500.json"))
    print("pipeline-d8x500.json: 500 trees over the same features")
    make_per_event_model(out, rng)


# The per-event bench (SPEC §9): the example job in per-event mode, four transforms and three
# aggregates over a 60 s window sliding every 10 s, scored by 100 trees of depth 6.
PER_EVENT_FEATURES = ["amount_log", "amount_z", "merchant_h", "hour", "tx_count_60s", "amount_mean_60s", "amount_max_60s"]


def make_per_event_model(out, rng):
    n = 20000
    amount = np.exp(rng.normal(3.4, 0.9, n))
    count = rng.integers(1, 60, n).astype(np.float64)
    mean = np.exp(rng.normal(3.4, 0.5, n))
    X = np.column_stack([np.log1p(amount), (amount - 45) / 46, rng.integers(0, 1024, n), rng.integers(0, 24, n),
                         count, mean, mean * rng.uniform(1, 4, n)]).astype(np.float32)
    y = (X[:, 6] > np.percentile(X[:, 6], 95)).astype(int)
    d = xgb.DMatrix(X, label=y, feature_names=PER_EVENT_FEATURES, nthread=2)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2, "seed": 0,
                   "min_child_weight": 0, "lambda": 0.01, "verbosity": 0}, d, 100)
    b.save_model(os.path.join(out, "per-event-d6x100.json"))
    print("per-event-d6x100.json: 100 trees over the per-event example's 7 features")


if __name__ == "__main__":
    sys.exit(main())
