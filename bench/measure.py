"""Small statistics and bookkeeping shared by the phases: medians, ranges, CPU, figures."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: Sequence[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


@dataclass
class Cpu:
    """CPU seconds (user + system) of reaped child processes and of this process."""

    children: float = 0.0
    servers: float = 0.0


@contextmanager
def cpu_time() -> Iterator[Cpu]:
    """Children: the contender processes reaped inside the block. Self: this process, i.e.
    the simulator and LocalS3 threads serving them (the driver itself mostly sleeps)."""
    out = Cpu()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = resource.getrusage(resource.RUSAGE_SELF)
    yield out
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = resource.getrusage(resource.RUSAGE_SELF)
    out.children = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    out.servers = (s1.ru_utime - s0.ru_utime) + (s1.ru_stime - s0.ru_stime)


@dataclass
class Figure:
    """One reported number, with the target it is judged against (never asserted)."""

    section: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "—" if self.met is None else ("met" if self.met else "**not met**")


@dataclass
class Phase:
    """What one phase hands to the report: figures, detail tables, notes, plot data."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def figure(self, name: str, value: str, target: str = "", met: bool | None = None,
               note: str = "") -> None:
        self.figures.append(Figure(self.title, name, value, target, met, note))

    def table(self, caption: str, header: list[str], rows: list[list[str]]) -> None:
        self.tables.append((caption, header, rows))


def interleave(reps: int, items: Sequence[T]) -> list[tuple[int, T]]:
    """A B C, C B A, A B C ...: every item at every position over the repetitions, so slow
    drift (caches, moto's growing memory) does not favour one contender."""
    order: list[tuple[int, T]] = []
    for rep in range(reps):
        seq = list(items) if rep % 2 == 0 else list(reversed(items))
        order.extend((rep, item) for item in seq)
    return order


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # nan
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_range(values: Sequence[float], digits: int = 2, unit: str = "") -> str:
    if not values:
        return "n/a"
    lo, hi = spread(values)
    mid = median(values)
    if len(values) == 1:
        return f"{fmt(mid, digits)}{unit}"
    return f"{fmt(mid, digits)}{unit} ({fmt(lo, digits)}-{fmt(hi, digits)})"


Check = Callable[[Any], str | None]
