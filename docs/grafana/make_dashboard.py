#!/usr/bin/env python3
# Writes docs/grafana/sluice.json, the Grafana dashboard over sluice's metrics (docs/operations.md).
# Change the panels here and run it again; test/kafka/job.test.ts checks that every metric the
# dashboard queries exists on /metrics.
import json
import os

J = 'job=~"$job"'


def q(metric_expr):
    return metric_expr.replace('{J}', '{' + J + '}')


PANELS = [
    ("Events in / s, by partition", [("sum by (partition) (rate(sluice_events_in_total{J}[1m]))", "{{partition}}")], "ops"),
    ("Windows fired / s", [("sum(rate(sluice_windows_fired_total{J}[1m]))", "fired"), ("sum(rate(sluice_window_revisions_total{J}[1m]))", "revisions"), ("sum(rate(sluice_window_retractions_total{J}[1m]))", "retractions")], "ops"),
    ("Consumer lag (records), by partition", [("sum by (partition) (sluice_consumer_lag_records{J})", "{{partition}}")], "short"),
    ("Watermark lag", [("max(sluice_watermark_lag_seconds{J})", "wall clock - watermark")], "s"),
    ("Result latency (batch read to written)", [("histogram_quantile(0.5, sum by (le) (rate(sluice_result_latency_seconds_bucket{J}[5m])))", "p50"), ("histogram_quantile(0.99, sum by (le) (rate(sluice_result_latency_seconds_bucket{J}[5m])))", "p99")], "s"),
    ("Kafka produce ack, p99 by output", [("histogram_quantile(0.99, sum by (le, output) (rate(sluice_sink_ack_seconds_bucket{J}[5m])))", "{{output}}")], "s"),
    ("Model calls per task, p99", [("histogram_quantile(0.99, sum by (le) (rate(sluice_score_seconds_bucket{J}[5m])))", "p99"), ("sum(rate(sluice_scored_windows_total{J}[1m]))", "windows scored / s")], "s"),
    ("Late events and dead letters / s", [("sum(rate(sluice_late_events_total{J}[5m]))", "late"), ("sum by (reason) (rate(sluice_dead_letters_total{J}[5m]))", "dead: {{reason}}"), ("sum(rate(sluice_expired_assignments_total{J}[5m]))", "expired sliding assignments")], "ops"),
    ("Checkpoints", [("histogram_quantile(0.99, sum by (le) (rate(sluice_checkpoint_duration_seconds_bucket{J}[10m])))", "duration p99"), ("histogram_quantile(0.99, sum by (le) (rate(sluice_checkpoint_pause_seconds_bucket{J}[10m])))", "pause p99"), ("sum(increase(sluice_checkpoints_total{J}[1m]))", "per minute")], "s"),
    ("Checkpoint size", [("max(sluice_checkpoint_bytes{J})", "last checkpoint")], "bytes"),
    ("Open windows", [("sum(sluice_open_windows{J})", "open")], "short"),
    ("Window pool", [("sum(sluice_pool_queue_depth{J})", "queued tasks"), ("sum(sluice_pool_busy_workers{J})", "busy workers"), ("sum(sluice_batches_in_flight{J})", "batches in flight")], "short"),
    ("Batch size (events), p50", [("histogram_quantile(0.5, sum by (le) (rate(sluice_batch_events_bucket{J}[5m])))", "p50")], "short"),
    ("Scores by variant (p50, p90)", [("histogram_quantile(0.5, sum by (le, model) (rate(sluice_model_score_bucket{J}[5m])))", "{{model}} p50"), ("histogram_quantile(0.9, sum by (le, model) (rate(sluice_model_score_bucket{J}[5m])))", "{{model}} p90")], "short"),
    ("Scored rows / s, by variant", [("sum by (model) (rate(sluice_model_score_count{J}[1m]))", "{{model}}"), ("sum by (model, result) (rate(sluice_model_cache_total{J}[1m]))", "cache {{model}} {{result}}")], "ops"),
    ("Model versions in force", [("max by (model, version) (sluice_model_info{J}) == 1", "{{model}} {{version}}")], "short"),
    ("Model reloads / min, by model and result", [("sum by (model, result) (increase(sluice_model_reloads_total{J}[1m]))", "{{model}} {{result}}")], "short"),
    ("Model errors and fallbacks / s", [("sum by (model, kind) (rate(sluice_model_errors_total{J}[5m]))", "{{model}} {{kind}}"), ("sum by (model, fallback) (rate(sluice_model_fallbacks_total{J}[5m]))", "{{model}} -> {{fallback}}")], "ops"),
    ("Remote model breakers (1 open)", [("max by (model) (sluice_model_breaker_open{J})", "{{model}}")], "short"),
    ("Errors / min, by kind", [("sum by (kind) (increase(sluice_errors_total{J}[1m]))", "{{kind}}")], "short"),
    ("Memory (RSS)", [("max(sluice_process_resident_memory_bytes{J})", "rss")], "bytes"),
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel(i, title, targets, unit):
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{"refId": chr(65 + k), "expr": q(e), "legendFormat": lf, "datasource": DATASOURCE} for k, (e, lf) in enumerate(targets)],
    }


dashboard = {
    "title": "sluice",
    "uid": "sluice-overview",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "description": "sluice jobs: throughput, lag, latency, late events and dead letters, checkpoints (metrics: docs/operations.md)",
    "time": {"from": "now-1h", "to": "now"},
    "refresh": "30s",
    "tags": ["sluice"],
    "templating": {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            {"name": "job", "type": "query", "label": "job", "datasource": DATASOURCE, "query": {"query": "label_values(sluice_events_in_total, job)", "refId": "jobs"}, "definition": "label_values(sluice_events_in_total, job)", "includeAll": True, "multi": True, "refresh": 2},
        ]
    },
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sluice.json"), "w") as f:
    f.write(json.dumps(dashboard, indent=2) + "\n")
