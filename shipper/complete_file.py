"""The REST complete-file download: stream a log file from offset 0, prove it is a known
generation by the range checks of what we shipped before, and ship what follows.

A broken stream is opened again from the start (REST has no ranges): what is already durable
is verified again and skipped, never sent twice. A stop request aborts the stream at the next
chunk, while verifying too (a large file can take longer than the stop budget to reach its
new bytes): the bytes not yet sealed are dropped, not written in a last object, so a stop
costs no S3 write; the next run streams them again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from shipper.exceptions import StopRequested
from shipper.identity import prove_by_content
from shipper.ports import LogFileSource
from shipper.rdsapi import STREAM_CHUNK
from shipper.retry import RETRYABLE_EXCEPTIONS, stream_backoff_seconds
from shipper.state import Generation
from shipper.stats import RunStats
from shipper.transfer import RangeVerifier
from shipper.writer import JobWriter

log = logging.getLogger("shipper")


class CompleteFile:
    """One log file over REST, handing what follows the shipped offset to the job's writer
    (``shipper.writer``)."""

    def __init__(self, api: LogFileSource, instance: str, name: str, writer: JobWriter,
                 stats: RunStats, stop: threading.Event, max_attempts: int) -> None:
        self._api = api
        self._instance = instance
        self._name = name
        self._writer = writer
        self._stats = stats
        self._stop = stop
        self._max_attempts = max_attempts

    def ship_after(self, gen: Generation) -> int | None:
        """Stream the file, prove it is ``gen`` up to its offset, ship the rest; returns the
        stream's length, None when the file is not ``gen`` (nothing written then). Retries the
        whole stream on connection errors: progress already durable is skipped, not
        re-sent. A loop of its own rather than ``Retrier.call``, because what is retried is
        a stream already partly consumed and committed, not one request (``Retrier`` retries
        opening it); which errors and how long to wait are retry.py's."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._stream_and_ship(gen)
            except RETRYABLE_EXCEPTIONS as err:
                if attempts >= self._max_attempts:
                    raise
                self._stats.add(retries=1)
                log.info("complete-file stream broke; resuming", extra={
                    "instance": self._instance, "file": self._name,
                    "error": type(err).__name__})
                if self._stop.wait(stream_backoff_seconds(attempts)):
                    raise StopRequested("stopping") from err

    def prove(self, candidates: list[Generation],
              available: Callable[[Generation], bool]) -> Generation | None:
        """Which of ``candidates`` this file is (identity.prove_by_content), by one stream."""
        with self._open() as chunks:
            return prove_by_content(candidates, chunks, available)

    def _stream_and_ship(self, gen: Generation) -> int | None:
        with self._open() as chunks:
            verifier = RangeVerifier(gen.checks)
            pos = 0
            writing = False
            for chunk in chunks:
                chunk_end = pos + len(chunk)
                if pos < gen.offset:
                    verifier.feed(pos, chunk[: gen.offset - pos])
                if chunk_end > gen.offset:
                    if not writing:
                        if not verifier.matches(gen.offset):
                            return None
                        self._writer.start(gen)
                        writing = True
                    # A stop ends the stream at its next chunk (_Stream): what is not sealed
                    # by then is dropped, so nothing partial is written while stopping.
                    self._writer.feed(chunk[max(0, gen.offset - pos):])
                pos = chunk_end
            if not writing:
                return pos if verifier.matches(pos) and pos >= gen.offset else None
            self._writer.finish()
            return pos

    def _open(self) -> _Stream:
        if self._stop.is_set():
            raise StopRequested("stopping")
        return _Stream(self._api, self._instance, self._name, self._stats, self._stop)


class _Stream:
    """The open REST response as counted chunks; the connection is released on exit."""

    def __init__(self, api: LogFileSource, instance: str, name: str, stats: RunStats,
                 stop: threading.Event) -> None:
        self._resp = api.open_complete(instance, name)
        self._stats = stats
        self._stop = stop

    def __enter__(self) -> Iterator[bytes]:
        return self._chunks()

    def __exit__(self, *_: object) -> None:
        self._resp.release_conn()

    def _chunks(self) -> Iterator[bytes]:
        for chunk in self._resp.stream(STREAM_CHUNK, decode_content=False):
            if self._stop.is_set():
                raise StopRequested("stopping")
            self._stats.add(bytes_downloaded=len(chunk))
            yield chunk
