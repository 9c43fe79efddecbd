"""Fixtures of the reliability suite (on top of tests/conftest.py's ``local_s3``/``aws_world``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipper.simulator.s3server import LocalS3
from tests.reliability.harness import TALLY, S3Tap


@pytest.fixture(scope="module")
def s3tap(local_s3: LocalS3) -> Iterator[S3Tap]:
    """A tap on the shared local S3 server for the whole module (hypothesis examples cannot
    use function-scoped fixtures); ``reset()`` it per example."""
    tap = S3Tap(local_s3)
    try:
        yield tap
    finally:
        tap.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        terminalreporter.section("reliability property: what the passing schedules did")
        for key, count in sorted(TALLY.items()):
            terminalreporter.write_line(f"{key:>40}: {count}")
