"""Running the shipper against the simulator and a local S3, and reading what a run printed.

The demo, the tests (``tests/support``) and the benchmark (``bench/harness.py``) start runs
the same way: the environment comes from ``simulated_environment``, and a run's JSON log
lines and summary are read with ``json_lines`` and ``run_summary``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

# Credentials moto accepts and the simulator ignores (neither checks a signature's secret).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Inherited variables that would point a run elsewhere or change its settings.
FOREIGN_PREFIXES = ("SHIPPER_", "AWS_", "RDSLOGSBUCKET")


def offline_environment(region: str = "us-east-1",
                        settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """Credentials and a region, never the instance metadata service, plus ``settings``: what
    every run here gets, and all a run that must stop before any AWS call gets."""
    return {
        **CREDENTIALS,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        **(settings or {}),
    }


def simulated_environment(rds_endpoint: str, s3_endpoint: str, bucket: str,
                          region: str = "us-east-1",
                          settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a run needs to ship from the simulator at ``rds_endpoint`` into ``bucket`` on the
    local S3 at ``s3_endpoint``, plus ``settings``."""
    return {
        **offline_environment(region),
        "AWS_ENDPOINT_URL_RDS": rds_endpoint,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "SHIPPER_BUCKET": bucket,
        **(settings or {}),
    }


def inherited_environment() -> dict[str, str]:
    """This process's environment without anything that would point a child run elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among an output's lines (other lines, e.g. ``state show``'s
    pretty-printed document or a warning from a library, are skipped)."""
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            with contextlib.suppress(ValueError):
                doc = json.loads(raw)
                if isinstance(doc, dict):
                    lines.append(doc)
    return lines


def run_summary(lines: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The summary of the last ``run finished`` line (``shipper.stats.RunSummary``)."""
    found = None
    for line in lines:
        if line.get("message") == "run finished":
            found = dict(line["summary"])
    return found
