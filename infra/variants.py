#!/usr/bin/env python3
"""Write every deployable combination of the templates for the linters (infra/checks.sh).

cfn-lint and checkov read a template with its parameter defaults, so each combination of
cluster.yaml's CapacityChoice and shipper.yaml's ScheduleKind is written out as a copy whose
defaults name it:  OUT/<capacity>-<schedule>/{cluster,shipper}.yaml.  Standard library only.

With --notifications, shipper.yaml once per Notifications value instead (the reference design
otherwise): OUT/notifications-<value>/shipper.yaml, SQS with a BucketName (its rule needs one).

    python3 infra/variants.py OUT
    python3 infra/variants.py --notifications OUT
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent
CAPACITIES = ("EC2_SPOT_FLEET", "EC2_SPOT_ASG", "FARGATE_SPOT")
SCHEDULES = ("RULE", "SCHEDULER")
NOTIFICATIONS = ("NONE", "SQS", "EVENTBRIDGE")


def with_default(text: str, parameter: str, value: str) -> str:
    """The template text with ``parameter``'s Default set to ``value``."""
    pattern = re.compile(rf"(^  {parameter}:\n(?:    .*\n)*?    Default: ).*$", re.MULTILINE)
    new, count = pattern.subn(lambda m: m.group(1) + value, text, count=1)
    if count != 1:
        raise SystemExit(f"variants: no Default for {parameter}")
    return new


def combinations() -> list[tuple[str, str]]:
    return [(c, s) for c in CAPACITIES for s in SCHEDULES]


def write(out: Path) -> list[Path]:
    cluster = (INFRA / "cluster.yaml").read_text()
    shipper = (INFRA / "shipper.yaml").read_text()
    written = []
    for capacity, schedule in combinations():
        target = out / f"{capacity.lower()}-{schedule.lower()}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "cluster.yaml").write_text(with_default(cluster, "CapacityChoice", capacity))
        text = with_default(shipper, "CapacityChoice", capacity)
        text = with_default(text, "ScheduleKind", schedule)
        if capacity == "EC2_SPOT_ASG":
            text = with_default(text, "CapacityProvider", "rds-log-shipper-asg")
        (target / "shipper.yaml").write_text(text)
        written += [target / "cluster.yaml", target / "shipper.yaml"]
    return written


def write_notifications(out: Path) -> list[Path]:
    shipper = (INFRA / "shipper.yaml").read_text()
    written = []
    for value in NOTIFICATIONS:
        target = out / f"notifications-{value.lower()}"
        target.mkdir(parents=True, exist_ok=True)
        text = with_default(shipper, "Notifications", value)
        if value == "SQS":
            text = with_default(text, "BucketName", "rds-log-shipper-archive")
        (target / "shipper.yaml").write_text(text)
        written.append(target / "shipper.yaml")
    return written


if __name__ == "__main__":
    args = sys.argv[1:]
    notifications = args[:1] == ["--notifications"]
    if len(args) != 1 + notifications:
        raise SystemExit(__doc__)
    for path in (write_notifications if notifications else write)(Path(args[-1])):
        print(path)
