"""CloudWatch Embedded Metric Format: a JSON document on stdout that CloudWatch Logs turns into
metrics, so alarms need no agent and no PutMetricData permission."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipper.stats import RunSummary

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


METRICS = (  # metric name, summary key, unit
    ("BytesShipped", "bytes_shipped", "Bytes"),
    ("ObjectsWritten", "objects_written", "Count"),
    ("RunFailed", "run_failed", "Count"),
    ("Failures", "failures", "Count"),
    ("LagSeconds", "max_lag_seconds", "Seconds"),
    ("RetentionHeadroomSeconds", "retention_headroom_seconds", "Seconds"),
    ("GapBytes", "gap_bytes", "Bytes"),
    ("SuspectedGaps", "suspected_gaps", "Count"),
    ("FilesDeferred", "files_deferred", "Count"),
    ("FilesStuck", "files_stuck", "Count"),
    ("Throttles", "throttles", "Count"),
    ("InstancesLeasedElsewhere", "instances_leased_elsewhere", "Count"),
    ("RunSeconds", "seconds", "Seconds"),
)


def run_metrics(namespace: str, summary: RunSummary) -> str:
    """The run's EMF record. A value the run could not measure (None, e.g. the lag of a run
    that never listed a file) is left out, so CloudWatch sees missing data, not a zero."""
    fields: dict[str, Any] = dict(summary)
    values = {name: float(fields[key]) for name, key, _ in METRICS
              if fields.get(key) is not None}
    units = {name: unit for name, _, unit in METRICS}
    settled = [float(r["settled_rate"]) for r in summary["rate_limits"]]
    if settled:  # the most constrained (account, region): where other tools took the budget
        values["RdsRateSettled"] = min(settled)
        units["RdsRateSettled"] = "Count/Second"
    return emf_record(namespace, values, units, {"run_id": summary["run_id"],
                                                  "exit_code": summary["exit_code"]})
