"""A local stand-in for the Amazon RDS log API, for tests, benchmarks and demos.

Why it exists: the shipper's hard problems (rotation while paging, truncated lines, early
``AdditionalDataPending=false``, throttling, files renamed under a reader) only show up against
an API that behaves like the real one, bugs included. This package serves that API over real
HTTP so the unmodified shipper (boto3 and the hand-signed REST call) talks to it, keeps the
ground truth of every byte ever written, and checks what reached S3 against it.

Modules: ``content`` (lazy deterministic bytes), ``engines`` (file naming and rotation per
engine), ``world`` (the model and its clock), ``faults`` (quirks, throttling, injected errors),
``server`` (the HTTP front end), ``oracle`` (byte-for-byte verification of S3), ``s3server``
(moto's S3 in a thread, for demos and tests).

FIDELITY.md (next to this file) lists every simulated behaviour with its public source, marks
the guesses, and names the switches for behaviours the sources leave open.
"""

from __future__ import annotations

from shipper.simulator.faults import DROP, Faults, HookError, RequestInfo
from shipper.simulator.oracle import OracleReport, verify
from shipper.simulator.s3server import LocalS3
from shipper.simulator.server import ServerStats, SimulatorServer
from shipper.simulator.world import GenerationRecord, Instance, World

__all__ = [
    "DROP",
    "Faults",
    "GenerationRecord",
    "HookError",
    "Instance",
    "LocalS3",
    "OracleReport",
    "RequestInfo",
    "ServerStats",
    "SimulatorServer",
    "World",
    "verify",
]
