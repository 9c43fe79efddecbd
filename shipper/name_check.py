"""Does a name still hold the file the plan saw? The check before the first object read under
a name that may have been handed on since the listing.

A generation is minted for a listed name before any of its data (the intent), but the name is
read later, and it may be handed on in between: a chain slot (SQL Server ``ERROR.N``, MySQL
``.N``) shifts, and a running file without a stamp in its name (MySQL
``mysql-error-running.log``, ``mysql-slowquery.log``, SQL Server ``ERROR``, Oracle's alert log)
rotates. The name then holds the bytes of another file, which its own job (or the next run)
ships as well. A generation with shipped bytes is safe, its range checks prove the stream; one
with none (offset 0) has nothing to prove it by. So before the first object of an empty
generation read under such a name, its family is listed again (``needs_name_check``,
``name_still_holds``), by a listing asked after the bytes were read. That is one
``DescribeDBLogFiles`` per family and rotation (hourly for MySQL's running logs), shared by the
checks of the family that wait for it together (``shipper.family_listings``), none in an idle
run:

* a chain slot still showing the LastWritten the plan saw held that same file from the listing
  until now (a rename keeps the mtime and renames only move forward). Otherwise nothing is
  written, and the generation stays with the (Size, LastWritten) recorded: the rename rule
  finds the file under its next slot, and if it was pushed out of the chain, its loss counts;
* a running file is unrotated while no other file of its family was last written at or after
  the plan's listed LastWritten, unless the plan's listing showed it so already in that same
  millisecond (a rotation keeps the mtime; a new file can share the millisecond of the one
  rotated before; a later one in the plan's listing means it was read across a rotation,
  and its entry for the running log is the rotated file's). Otherwise
  nothing is written and an empty generation minted from this listing is forgotten
  (``Ledger.forget_empty``): the listed (Size, LastWritten) belong to the file that rotated
  away, and kept, they would hand that file to this generation by the rename rule even where
  another generation had shipped its bytes (a rotation mid-paging, tests/scenarios/
  test_quirks.py). The next listing decides both files afresh; the rotated one is kept under
  its new name for the retention period, and until then what the listing showed of it is kept
  for continuity (a ``Sighting``, ``shipper.continuity``). An
  empty generation that a grown file was planned as is kept instead: it was recorded by an
  earlier listing, while the name held it, so its (Size, LastWritten) hand it no other file;
  and it is what tells the family's continuity that the rotated file is the one it became
  (forgotten, the chain pushing out the family's last shipped file would read as a break, a
  false suspected gap).

The listing's word is as stale for bytes a grown generation gets only because the listing
said so: pages that came back with another hour than the stored marker's, continued because
the listing proved the name (``name_proves``), and a header-only generation proven by its
header (``header_proves``). Before their first object the family is listed again too
(``needs_name_check(on_listing_word=True)``, one request, only when the hour differs); if the
name was handed on meanwhile, nothing is written and the generation waits for the next listing,
which shows its file under the new name (else the next hour's bytes would be appended to the
old generation). And a grown file that turns out not to be its generation is
asked the same before the generation is given up: handed on after the listing, the generation
is not missing, only under a name this run's listing does not show.

The name check reads "handed on" from the family listing: the name missing, older, or (a
running log) another file of its family written since. That listing must be the whole family,
every page (``RdsApi.log_files_like``), or a name past the first page reads as handed on in a
world where nothing moved: MySQL's slow and general families hold 25 names, ``….log.5`` to
``….log.9`` sort last, and the API reference sets no page size. A reused name is no exception
to the rule once the listing is whole. A day-old generation under ``….log.N`` is prev for the
new file under that name; when the new file is larger it is GROWN, its proof fails (other
bytes), and the name check finds the name listed with the LastWritten the plan saw (a closed
slot keeps it) or, for a running file, no newer file of the family: not handed on, so the file
is proven against the other candidates and else shipped as new. The same holds for every reused
name: SQL Server's ``ERROR.N`` and ``SQLAGENT.N`` and MariaDB's ``server_audit.log.N`` (chain
slots, renamed forward with their mtime: a shift after the listing changes the slot's
LastWritten, a real hand-on), and Oracle's ``alert_<SID>.log.YYYY-MM-DD`` (stamped: never
checked). A file left for the next listing by this or any other rule is counted, and the second
time in a row is an error (``shipper.deferrals``): a misread that defers a file forever cannot
stay quiet.

A generation minted for a file after a content proof matched none of its candidates is
forgotten too, under either kind of name: the proof streamed the name, and may have read the
file it was handed to, so the listed file may still be one of the candidates. Kept, a slot's
generation would be handed that file by the rename rule, its bytes shipped twice.
``forget_when_handed_on`` is the rule. A generation with a failed write is never
forgotten: that object may be durable, and only a generation in the state is looked for by
the next run (``shipper.adoption``). It is kept, and rightly handed the listed file:
the write passed the name check, so its bytes are that file's.

A family listing that comes back empty says nothing (listings are empty for a moment at
times): it is asked for again before it is believed (``rdsapi.believed_listing``).

Read fresh under the old listing instead, the new file's bytes were filed under a generation
first seen before the file existed (a wrong ``dt=`` partition, and the rotated file's loss
would go unnoticed). Names carrying their hour and numbered trace files are never handed on. Two
runs never hold one instance at once (``shipper.lease``; the state commit is conditional on its
ETag), so this one-holder window was the one to close.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipper.identity import FileJob, JobKind
from shipper.listing import LogFile
from shipper.names import family, is_chain_slot, name_may_move
from shipper.state import Generation


def needs_name_check(gen: Generation, job: FileJob, on_listing_word: bool = False) -> bool:
    """Must ``job``'s name be listed again before its next object of ``gen`` (module
    docstring)? Before an empty generation's first object read under a chain slot or under a
    running file's unstamped name; and before the first object whose bytes are ``gen``'s only
    on the plan's listing's word (``on_listing_word``: pages of another marker hour continued
    because the listing proved the name, a header-only generation proven by its header), under
    a name without a stamp: that word is stale once the name was handed on after the listing."""
    if on_listing_word:
        return name_may_move(job.name)
    return gen.offset == 0 and _name_may_be_handed_on(job)


def expects_name_check(job: FileJob) -> bool:
    """Will ``job`` check its name before its first object (``needs_name_check``)? Guessed
    before it runs, to gather the checks of a family into one listing
    (``shipper.family_listings``): a guess either way costs a short wait or a listing."""
    return (job.gen is None or job.gen.offset == 0) and _name_may_be_handed_on(job)


def _name_may_be_handed_on(job: FileJob) -> bool:
    """A running file's unstamped name, or a chain slot."""
    return name_may_move(job.name) if job.active else is_chain_slot(job.name)


def rests_on_listing(gen: Generation, hour_verified: bool) -> bool:
    """Are the bytes a stream is about to append to ``gen`` its own only because the plan's
    listing said so? A header-only generation proven by its header (``header_proves``)
    without pages of its stored marker's hour: any file of the engine starts that way."""
    return gen.header_only and not hour_verified


def forget_when_handed_on(job: FileJob, gen: Generation) -> bool:
    """The name check found ``job``'s name handed on before the first object of ``gen``, an
    empty generation: forget it (True), or keep it (module docstring)? A grown file's own
    generation is kept: an earlier listing recorded it. One minted from this listing is kept
    only for a closed chain slot that no known generation could be, with the listed (Size,
    LastWritten) for the rename rule to find the file under its next slot: a running file's
    listed entry belongs to the file that rotated away, and a file with candidates may have
    been proven against another file's bytes (the stream read the name after it was handed
    on), so the listed file may well be one of them."""
    if job.kind is JobKind.GROWN and gen is job.gen:
        return False
    return job.active or bool(job.candidates) or job.kind is JobKind.SAME_SIZE


def name_still_holds(planned: LogFile, active: bool, listing: list[LogFile],
                     before: Iterable[LogFile] = ()) -> bool:
    """Does the name still hold the file the plan saw (``listing``: its family now;
    ``before``: the plan's listing)? Listed, not older, and not smaller unless its LastWritten
    is the same (a listed Size lags behind a file being written at times: FIDELITY.md; a new
    file under the name has a new LastWritten); a closed slot with the same LastWritten (a
    rename keeps it, two files of a chain never share it); a running file not rotated since:
    no other file of its family that the plan's listing did not show so, last written at or
    after the plan's listed LastWritten. A rotation keeps the mtime, and the plan's Size may
    have lagged, so the Size cannot tell the rotated file; a file listed before with that
    LastWritten is not it, even written in the same millisecond as the new one."""
    now = next((f for f in listing if f.name == planned.name), None)
    if now is None or now.last_written_ms < planned.last_written_ms:
        return False
    if now.size < planned.size and now.last_written_ms != planned.last_written_ms:
        return False
    if not active:
        return now.last_written_ms == planned.last_written_ms
    fam = family(planned.name)
    listed_before = {(f.name, f.last_written_ms) for f in before}
    # A file the plan's listing showed in the same millisecond is no rotation since; one it
    # showed written later is: the listing was read across that rotation (page by page), and
    # its entry for the running log described the file rotated away.
    return not any(
        f.name != planned.name and family(f.name) == fam
        and f.last_written_ms >= planned.last_written_ms
        and ((f.name, f.last_written_ms) not in listed_before
             or f.last_written_ms > planned.last_written_ms)
        for f in listing)

