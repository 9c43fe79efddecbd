from __future__ import annotations

import pytest

from tests.conftest import AwsWorld

ENGINES = ["postgres", "aurora-postgresql", "mysql", "mariadb", "aurora-mysql",
           "sqlserver-se", "oracle-ee"]


@pytest.mark.parametrize("step_minutes", [15, 60])
def test_incremental_runs_across_rotations_for_26_hours(aws_world: AwsWorld,
                                                        step_minutes: int) -> None:
    w = aws_world.world
    for i, engine in enumerate(ENGINES):
        w.add_instance(f"db{i}-{engine}", engine, bytes_per_hour=120_000)
    totals = {"portion_calls": 0, "complete_downloads": 0, "bytes_downloaded": 0,
              "bytes_shipped": 0}
    for _ in range(26 * 60 // step_minutes):
        w.advance(step_minutes * 60)
        res = aws_world.run()
        assert res.code == 0, res.stdout[-4000:] + res.stderr
        for k in totals:
            totals[k] += res.summary[k]
    print(totals)
    report = aws_world.verify()
    print(report.summary())
    report.assert_ok()
