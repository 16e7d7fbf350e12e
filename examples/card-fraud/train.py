#!/usr/bin/python3
"""Trains the example job's models on the generator's fraud bursts: card-fraud.json (the champion)
and card-fraud-challenger.json (deeper trees, more rounds; the job's 10% A/B variant).

Run with Debian's python (python3-xgboost 1.7.4, numpy), after `npm run build`:
    /usr/bin/python3 examples/card-fraud/train.py

It dumps 2,000,000 generator events with their burst labels (seed 7: not the job's seed 42, so
the job scores data the model has not seen), computes the job's seven features per card and
60 s tumbling window with numpy, labels a window 1 when it holds a burst event, and trains a
binary:logistic booster whose feature names are the job's feature names (sluice matches them to
model.inputs by name).
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["tx_count", "amount_sum", "amount_mean", "amount_min", "amount_max", "amount_std", "amount_p95"]
WINDOW_MS = 60_000


def window_features(events_path, labels_path):
    cards, ts, amounts = [], [], []
    with open(events_path) as fh:
        for line in fh:
            e = json.loads(line)
            cards.append(int(e["card"][5:]))
            ts.append(e["ts"])
            amounts.append(e["amount"])
    labels = np.loadtxt(labels_path, dtype=np.int8)
    cards, ts, amounts = np.array(cards), np.array(ts, dtype=np.int64), np.array(amounts)
    win = ts // WINDOW_MS
    order = np.lexsort((win, cards))
    cards, win, amounts, labels = cards[order], win[order], amounts[order], labels[order]
    bounds = np.flatnonzero(np.diff(cards) | np.diff(win)) + 1
    rows, ys = [], []
    for a in np.split(np.arange(len(cards)), bounds):
        x = amounts[a]
        rows.append([len(x), x.sum(), x.mean(), x.min(), x.max(), x.std(), np.percentile(x, 95)])
        ys.append(int(labels[a].any()))
    return np.array(rows, dtype=np.float32), np.array(ys)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        events, labels = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "labels.txt")
        subprocess.run(["node", os.path.join(HERE, "dump-events.js"), "2000000", events, labels], check=True)
        X, y = window_features(events, labels)
    print(f"{len(y)} windows, {y.sum()} with a burst")
    d = xgb.DMatrix(X, label=y, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0,
              "scale_pos_weight": max(1.0, (len(y) - y.sum()) / max(1, y.sum()) / 10)}
    for name, depth, rounds in [("card-fraud.json", 4, 40), ("card-fraud-challenger.json", 6, 80)]:
        booster = xgb.train({**params, "max_depth": depth}, d, num_boost_round=rounds)
        booster.save_model(os.path.join(HERE, name))
        p = booster.predict(d)
        print(f"{name}: mean score {p[y == 1].mean():.3f} on burst windows, {p[y == 0].mean():.4f} on the rest")


if __name__ == "__main__":
    main()
