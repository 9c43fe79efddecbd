"""Adoption after a crash, step 4 of the exactly-once protocol (``shipper.ledger``).

A run that died mid-pass (an expired lease never released, or a run that did not end clean)
may have made one object per generation durable after its last commit: the commit protocol
bounds it to that one. The next holder looks for it at each generation's committed offset,
in the partition the generation's next object would go to, and records it as the lost
commit would have. An object that does not read back as what its metadata says is left to
be rewritten by the next write at that offset.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping

from shipper.layout import (
    META_LOG_FILE,
    META_MARKER,
    decode_metadata_value,
    metadata_names,
    reads_back,
)
from shipper.ledger import Ledger, current_partition, record_object
from shipper.ports import ObjectStore
from shipper.state import Generation
from shipper.transfer import ObjectBuilder

log = logging.getLogger("shipper")


def adopt_dangling(ledger: Ledger, store: ObjectStore) -> int:
    """The previous holder died mid-run (or gave up on a write): adopt the one object per
    generation that may have become durable after its last commit. Returns how many."""
    adopted = 0
    for gen in list(ledger.state.generations.values()):
        while _adopt_next(ledger, store, gen):
            adopted += 1
    if adopted:
        log.info("adopted objects written after the last commit of a crashed run",
                 extra={"instance": ledger.scope.instance, "objects": adopted})
        ledger.commit()
    return adopted


def _adopt_next(ledger: Ledger, store: ObjectStore, gen: Generation) -> bool:
    key = ledger.scope.data_key(gen.gen_id, current_partition(gen), gen.offset,
                                ledger.written_as(gen))
    if store.head(key) is None:
        return False
    obj = store.get(key)
    if obj is None:
        return False
    data = gzip.decompress(obj.body)
    if not reads_back(obj.metadata, gen.offset, data):
        log.warning("found an unreadable object after a crash; it will be rewritten",
                    extra={"instance": ledger.scope.instance, "generation": gen.gen_id})
        return False
    with ledger.changing():
        adopt_object(gen, data, obj.metadata)
    return True


def adopt_object(gen: Generation, data: bytes, metadata: Mapping[str, str]) -> None:
    """Record an object that a crashed run made durable after its last commit as that run's
    commit would have (the builder recomputes the checks and the header-only flag; adoption
    is rare, so compressing the bytes again is cheap enough), with the portion marker the
    object carries, for the name the file was read under."""
    builder = ObjectBuilder(gen.offset)
    builder.feed(data)
    encoded = metadata.get(META_MARKER)
    read_as = decode_metadata_value(metadata.get(META_LOG_FILE, ""))
    marker_name = gen.name if metadata_names(read_as, gen.name) else read_as
    record_object(gen, builder.seal(decode_metadata_value(encoded) if encoded else None),
                  marker_name)
