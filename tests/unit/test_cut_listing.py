"""Completing a listing cut at 1,000 records with FilenameContains queries
(``shipper.cut_listing``): every file is found, whatever order the API lists them in, and a
listing the budget cannot complete says so."""

from __future__ import annotations

import random

import pytest

from shipper.cut_listing import CompletedListing, complete_cut_listing
from shipper.listing import LogFile

LIMIT = 1000


def api_over(names: list[str], order_seed: int) -> tuple[list[LogFile], list[str]]:
    """A cut first listing and the texts asked for, over ``names`` listed in a shuffled
    order (the API's order is unspecified)."""
    files = [LogFile(n, 10, 1) for n in names]
    random.Random(order_seed).shuffle(files)
    return files[:LIMIT], []


def run(names: list[str], order_seed: int,
        budget: int | None = None) -> tuple[CompletedListing, list[str]]:
    first, asked = api_over(names, order_seed)
    everything = [LogFile(n, 10, 1) for n in names]
    random.Random(order_seed).shuffle(everything)

    def query(text: str) -> tuple[list[LogFile], bool]:
        asked.append(text)
        rows = [f for f in everything if text in f.name]
        return rows[:LIMIT], len(rows) >= LIMIT

    return complete_cut_listing(first, query, budget), asked


@pytest.mark.parametrize("order_seed", [1, 2, 3])
def test_thousands_of_trace_files_are_all_listed(order_seed: int) -> None:
    rng = random.Random(order_seed)
    names = ["trace/alert_ORCL.log", *(f"trace/alert_ORCL.log.2024-01-{d:02d}" for d in
                                      range(1, 31))]
    for pid in rng.sample(range(1000, 99999), 1500):
        kind = rng.choice(["ora", "ora", "j000", "mmon"])
        names += [f"trace/ORCL_{kind}_{pid}.trc", f"trace/ORCL_{kind}_{pid}.trm"]
    done, asked = run(names, order_seed)
    assert done.complete and set(done.files) == set(names)
    assert done.queries == len(asked) < 1500


def test_numbered_names_sharing_a_long_prefix_are_all_listed() -> None:
    names = [f"trace/ORCL_ora_{i:05d}.trc" for i in range(1050)] + ["trace/alert_ORCL.log"]
    done, _ = run(names, 7)
    assert done.complete and set(done.files) == set(names)


def test_a_name_with_a_character_outside_the_usual_ones_is_found() -> None:
    names = [f"trace/ORCL_ora_{i:05d}.trc" for i in range(1050)] + ["trace/ORCL_ora_x+y.trc"]
    done, _ = run(names, 3)
    assert done.complete and set(done.files) == set(names)


def test_a_listing_the_budget_cannot_complete_is_incomplete() -> None:
    names = [f"trace/ORCL_ora_{i:05d}.trc" for i in range(1050)]
    done, asked = run(names, 5, budget=10)
    assert not done.complete and len(asked) == 10 and len(done.files) < len(names)
