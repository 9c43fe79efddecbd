"""CloudWatch Embedded Metric Format: a JSON document on stdout that CloudWatch Logs turns into
metrics, so alarms need no agent and no PutMetricData permission."""

from __future__ import annotations

import json
import time
from typing import Any

SERVICE = "rds-log-shipper"


def emf_record(namespace: str, values: dict[str, float], units: dict[str, str],
               properties: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": name, "Unit": units.get(name, "None")} for name in values],
            }],
        },
        "Service": SERVICE,
        **values,
        **(properties or {}),
    }
    return json.dumps(doc, separators=(",", ":"))


def run_metrics(namespace: str, summary: dict[str, Any]) -> str:
    values = {
        "BytesShipped": float(summary["bytes_shipped"]),
        "ObjectsWritten": float(summary["objects_written"]),
        "Failures": float(summary["failures"]),
        "LagSeconds": float(summary["max_lag_seconds"]),
        "GapBytes": float(summary["gap_bytes"]),
        "SuspectedGaps": float(summary["suspected_gaps"]),
        "Throttles": float(summary["throttles"]),
        "RunSeconds": float(summary["seconds"]),
    }
    units = {"BytesShipped": "Bytes", "GapBytes": "Bytes", "LagSeconds": "Seconds",
             "RunSeconds": "Seconds", "ObjectsWritten": "Count", "Failures": "Count",
             "SuspectedGaps": "Count", "Throttles": "Count", "RdsRateSettled": "Count/Second"}
    settled = [float(r["settled_rate"]) for r in summary.get("rate_limits") or []]
    if settled:  # the most constrained (account, region): where other tools took the budget
        values["RdsRateSettled"] = min(settled)
    return emf_record(namespace, values, units, {"run_id": summary["run_id"],
                                                  "exit_code": summary["exit_code"]})
