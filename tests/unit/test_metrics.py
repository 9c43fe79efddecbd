"""CloudWatch Embedded Metric Format records."""

from __future__ import annotations

import json
import time
from typing import Any

from shipper.metrics import SERVICE, emf_record, run_metrics
from shipper.stats import RunSummary

# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}
SUMMARY: RunSummary = {
    "bytes_shipped": 1_048_576, "objects_written": 3, "failures": 1, "max_lag_seconds": 42.5,
    "gap_bytes": 0, "suspected_gaps": 2, "throttles": 7, "seconds": 12.25, "run_id": "run-1",
    "exit_code": 1, "instances_leased_elsewhere": 2, "rate_wait_seconds": 0.0,
    "rate_limits": [],
}


def assert_valid_emf(line: str) -> dict[str, Any]:
    """The structural rules CloudWatch Logs applies before it extracts metrics."""
    assert "\n" not in line
    doc: dict[str, Any] = json.loads(line)
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for dimension in dimension_set:
                assert isinstance(doc[dimension], str)
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert isinstance(doc[metric["Name"]], (int, float))
            assert not isinstance(doc[metric["Name"]], bool)
            assert metric.get("Unit", "None") in EMF_UNITS
    return doc


def test_emf_record_structure() -> None:
    before = int(time.time() * 1000)
    line = emf_record("MyNS", {"Shipped": 5.0, "Lag": 1.5}, {"Shipped": "Bytes"})
    after = int(time.time() * 1000)
    doc = assert_valid_emf(line)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MyNS"
    assert directive["Dimensions"] == [["Service"]]
    assert directive["Metrics"] == [{"Name": "Shipped", "Unit": "Bytes"},
                                    {"Name": "Lag", "Unit": "None"}]
    assert doc["Service"] == SERVICE == "rds-log-shipper"
    assert (doc["Shipped"], doc["Lag"]) == (5.0, 1.5)
    assert before <= doc["_aws"]["Timestamp"] <= after


def test_emf_properties_are_top_level_but_not_metrics() -> None:
    doc = assert_valid_emf(emf_record("NS", {"A": 1.0}, {}, {"run_id": "r-9"}))
    assert doc["run_id"] == "r-9"
    names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["A"]


def test_run_metrics_reports_every_run_counter() -> None:
    doc = assert_valid_emf(run_metrics("RdsLogShipper", SUMMARY))
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "RdsLogShipper"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "BytesShipped": "Bytes", "ObjectsWritten": "Count", "Failures": "Count",
        "LagSeconds": "Seconds", "GapBytes": "Bytes", "Throttles": "Count",
        "RunSeconds": "Seconds", "SuspectedGaps": "Count", "InstancesLeasedElsewhere": "Count",
    }
    assert doc["InstancesLeasedElsewhere"] == 2
    assert doc["BytesShipped"] == 1_048_576
    assert doc["ObjectsWritten"] == 3
    assert doc["Failures"] == 1
    assert doc["LagSeconds"] == 42.5
    assert doc["GapBytes"] == 0
    assert doc["SuspectedGaps"] == 2
    assert doc["Throttles"] == 7
    assert doc["RunSeconds"] == 12.25
    assert (doc["run_id"], doc["exit_code"]) == ("run-1", 1)


def test_run_metrics_reports_the_lowest_settled_rate_when_rds_was_called() -> None:
    limits = [{"account": "1", "region": "eu-west-1", "settled_rate": 7.5},
              {"account": "1", "region": "us-east-1", "settled_rate": 12.0}]
    doc = assert_valid_emf(run_metrics("NS", {**SUMMARY, "rate_limits": limits}))
    units = {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["RdsRateSettled"] == "Count/Second" and doc["RdsRateSettled"] == 7.5
    assert "RdsRateSettled" not in json.loads(run_metrics("NS", {**SUMMARY, "rate_limits": []}))


def test_run_metrics_uses_the_configured_namespace() -> None:
    doc = json.loads(run_metrics("Team/Logs", SUMMARY))
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Team/Logs"
