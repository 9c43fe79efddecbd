"""bench/cost.py's rows for CapacityChoice EC2_SPOT_ASG: when the Auto Scaling group scales to
zero between runs, and what its instance costs (issue 26). Counts as RESULTS.md measured."""

from __future__ import annotations

import pytest

from bench import cost

COUNTS = cost.Counts(s3_get=1.05, s3_put=3.20, rds=2.25,
                     idle_s3_get={10: 1.10, 100: 1.01, 1000: 1.0},
                     idle_s3_put={10: 0.0, 100: 0.0, 1000: 0.0},
                     idle_wall={10: 0.8, 100: 1.6, 1000: 64.3}, gzip_ratio=0.032, mbps=104.7)


def test_every_15_minutes_the_instance_never_leaves() -> None:
    """ECS waits about 15 idle minutes before it scales in: the next run comes first, and the
    group costs what the Spot Fleet's one instance costs."""
    for instances, gb_day in cost.FLEETS:
        asg = cost.asg_month(COUNTS, instances, gb_day, 15)
        fleet = cost.shipper_month(COUNTS, instances, gb_day)
        assert asg["scales_to_zero"] == 0.0
        assert asg["instance_hours"] == cost.HOURS_PER_MONTH
        assert asg["ec2_asg"] == pytest.approx(fleet["ec2_spot"])


@pytest.mark.parametrize("interval", [30, 60])
def test_a_longer_interval_pays_only_the_minutes_a_run_needs(interval: int) -> None:
    asg = cost.asg_month(COUNTS, 10, 1.0, interval)
    assert asg["scales_to_zero"] == 1.0
    fixed = (cost.ASG_LAUNCH_S + cost.ASG_TASK_START_S + cost.ASG_SCALE_IN_S
             + cost.ASG_TERMINATE_S) / 60
    assert fixed < asg["instance_minutes_per_run"] < fixed + 1
    assert asg["instance_hours"] == pytest.approx(asg["runs"] * asg["instance_minutes_per_run"]
                                                  / 60)
    assert asg["instance_hours"] < cost.HOURS_PER_MONTH * (fixed + 1) / interval


def test_the_ten_instance_fleet_is_within_5_percent_only_on_an_hourly_schedule() -> None:
    route = sum(cost.cloudwatch_month(COUNTS, 1.0).values())
    ratios = {i: cost.asg_month(COUNTS, 10, 1.0, i)["total"] / route
              for i in cost.ASG_INTERVALS_MIN}
    assert ratios[15] > 0.05 and ratios[30] > 0.05
    assert ratios[60] <= 0.05
