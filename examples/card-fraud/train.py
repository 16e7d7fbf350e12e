#!/usr/bin/python3
"""Trains the example jobs' models on the generator's fraud bursts: card-fraud.json (the champion)
and card-fraud-challenger.json (deeper trees, more rounds; the job's 10% A/B variant) for the
windows job, and card-fraud-per-event.json for per-event.yaml.

Run with Debian's python (python3-xgboost 1.7.4, numpy), after `npm run build`:
    /usr/bin/python3 examples/card-fraud/train.py

It dumps 2,000,000 generator events with their burst labels (seed 7: not the job's seed 42, so
the job scores data the model has not seen), computes the job's seven features per card and
60 s tumbling window with numpy, labels a window 1 when it holds a burst event, and trains a
binary:logistic booster whose feature names are the job's feature names (sluice matches them to
model.inputs by name). For per-event.yaml it computes each event's features as of the event (SPEC
§13: its own transformed fields, and its card's 60 s sliding window as of it) and labels the event.
"""
import json
import math
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


PER_EVENT_FEATURES = ["amount_log", "amount_z", "merchant_h", "hour", "tx_count_60s", "amount_mean_60s", "amount_max_60s"]
SIZE_MS, SLIDE_MS, BOUND_MS = 60_000, 10_000, 5_000


def merchant_hashes():
    """murmur3(m-<i>) mod 1024 for the generator's merchants, by sluice's own implementation."""
    code = ("const { murmur3 } = require('./dist/src/util/murmur3.js');"
            "console.log(JSON.stringify(Array.from({ length: 500 }, (_, i) => murmur3(Buffer.from('m-' + i)) % 1024)))")
    out = subprocess.run(["node", "-e", code], cwd=os.path.join(HERE, "..", ".."), check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def per_event_features(events_path, labels_path):
    """Each event's features as of the event, in arrival order (one partition, lateness 0)."""
    hashes = merchant_hashes()
    labels = np.loadtxt(labels_path, dtype=np.int8)
    windows = {}      # (card, start) -> [count, sum, max]
    rows, max_ts = [], -math.inf
    with open(events_path) as fh:
        for line in fh:
            e = json.loads(line)
            card, ts, a = e["card"], e["ts"], e["amount"]
            w = max_ts - BOUND_MS
            first = None
            last = ts // SLIDE_MS * SLIDE_MS
            for start in range(last - SIZE_MS + SLIDE_MS, last + 1, SLIDE_MS):
                if start + SIZE_MS <= w:
                    continue                      # gone: the event is late for this window
                acc = windows.setdefault((card, start), [0, 0.0, -math.inf])
                acc[0] += 1
                acc[1] += a
                acc[2] = max(acc[2], a)
                if start == last - SIZE_MS + SLIDE_MS:
                    first = acc
            own = [math.log1p(a), (a - 45) / 46, hashes[int(e["merchant"][2:])], (ts // 3_600_000) % 24]
            aggs = [first[0], first[1] / first[0], first[2]] if first else [np.nan] * 3
            rows.append(own + aggs)
            if ts > max_ts:
                max_ts = ts
                if len(windows) > 200_000:        # drop windows the watermark passed
                    windows = {k: v for k, v in windows.items() if k[1] + SIZE_MS > max_ts - BOUND_MS}
    return np.array(rows, dtype=np.float32), labels


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

    with tempfile.TemporaryDirectory() as tmp:
        events, labels = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "labels.txt")
        subprocess.run(["node", os.path.join(HERE, "dump-events.js"), "1000000", events, labels], check=True)
        X, y = per_event_features(events, labels)
    print(f"{len(y)} events, {y.sum()} in a burst")
    d = xgb.DMatrix(X, label=y, feature_names=PER_EVENT_FEATURES, missing=np.nan)
    params["scale_pos_weight"] = max(1.0, (len(y) - y.sum()) / max(1, y.sum()) / 10)
    booster = xgb.train({**params, "max_depth": 4}, d, num_boost_round=40)
    booster.save_model(os.path.join(HERE, "card-fraud-per-event.json"))
    p = booster.predict(d)
    print(f"card-fraud-per-event.json: mean score {p[y == 1].mean():.3f} on burst events, {p[y == 0].mean():.4f} on the rest")


if __name__ == "__main__":
    main()
