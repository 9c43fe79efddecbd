"""The time windows the identity rules share: the plan (``shipper.identity``), paging
(``shipper.portions``) and continuity (``shipper.continuity``) read them from here."""

from __future__ import annotations

HOUR_MS = 3_600_000
# A closed generation of at most this many bytes is often nothing but the engine's common
# header: content alone cannot tell two copies of it apart.
TINY_GENERATION = 4096
# How long after it was seen a file can still be the one a name was rotated to: a running log
# rotates hourly, and the rotated file is last written within the hour (and some slack).
HEADER_ONLY_REACH_MS = HOUR_MS + 10 * 60_000
# A reused name (MySQL .N) comes back with a generation of the same hour a day later; within
# this window a matching marker hour identifies the generation.
MARKER_TRUST_MS = 23 * HOUR_MS
