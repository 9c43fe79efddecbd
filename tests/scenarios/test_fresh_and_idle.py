from __future__ import annotations

from tests.conftest import AwsWorld


def test_fresh_ship_then_idle(aws_world: AwsWorld) -> None:
    w = aws_world.world
    w.add_instance("pg1", "postgres", bytes_per_hour=200_000)
    w.add_instance("my1", "mysql", bytes_per_hour=200_000)
    w.advance(2 * 3600)
    res = aws_world.run()
    print(res.stdout[-3000:], res.stderr)
    assert res.code == 0
    aws_world.verify().assert_ok()
    idle = aws_world.run()
    assert idle.code == 0
    assert idle.summary["portion_calls"] == 0
    assert idle.summary["complete_downloads"] == 0
    assert idle.summary["objects_written"] == 0
