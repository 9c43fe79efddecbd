"""Lazy content: deterministic, exact, range-consistent, and cheap for huge files."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest

from shipper.simulator.content import (
    BLOCK,
    STYLES,
    TEXT_STYLES,
    Content,
    Generated,
    _block,
    _block_prefix,
)


@pytest.mark.parametrize("style", STYLES)
def test_generated_segment_is_deterministic_and_exact(style: str) -> None:
    seg = Generated(seed=42, length=3 * BLOCK + 123, style=style, t0=1795132800)
    a = Content([seg]).read()
    b = Content([Generated(42, 3 * BLOCK + 123, style, 1795132800)]).read()
    assert a == b
    assert len(a) == seg.length
    other = Content([Generated(43, seg.length, style, 1795132800)]).read()
    assert other != a


@pytest.mark.parametrize("style", TEXT_STYLES)
def test_text_blocks_are_whole_ascii_lines(style: str) -> None:
    for index in range(3):
        block = _block(5, style, 1795132800, index)
        assert len(block) == BLOCK
        assert block.endswith(b"\n")
        block.decode("ascii")
    # A text segment always ends with a newline, whatever its length.
    for length in (1, 2, 77, BLOCK - 1, BLOCK + 1):
        assert Content([Generated(9, length, style)]).read().endswith(b"\n")


@pytest.mark.parametrize("style", TEXT_STYLES)
def test_short_reads_build_the_same_bytes_as_whole_blocks(style: str) -> None:
    rng = random.Random(style)
    for index in range(20):
        seed, upto = rng.getrandbits(60), rng.randint(1, BLOCK // 4)
        prefix = _block_prefix(seed, style, 0, index, upto)
        assert len(prefix) >= upto
        assert _block(seed, style, 0, index).startswith(prefix)


def test_many_small_segments_read_fast() -> None:
    content = Content([Generated(i, 300, "postgres", 0) for i in range(3600)])
    assert len(content.read()) == 3600 * 300


def test_binary_style_is_not_utf8() -> None:
    data = Content([Generated(3, 10_000, "binary")]).read()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_ranges_agree_with_whole_reads_across_segments() -> None:
    content = Content([
        b"literal start\n",
        Generated(1, BLOCK * 2 + 17, "postgres", 0),
        b"\xff\xfe not utf-8 \n",
        Generated(2, 1000, "mysql-slow", 0),
        b"",
        Generated(3, BLOCK, "sqlserver", 0),
    ])
    whole = content.read()
    assert len(whole) == content.size
    rng = random.Random(0)
    for _ in range(300):
        a = rng.randrange(0, content.size)
        b = rng.randrange(a, content.size + 1)
        assert content.read(a, b) == whole[a:b]
    assert b"".join(content.iter_range(5, content.size - 5, chunk=999)) == whole[5:-5]
    assert content.read(content.size, content.size + 10) == b""


def test_views_are_stable_while_content_grows() -> None:
    content = Content([b"one\n"])
    view = content.view()
    content.append(b"two\n")
    content.append(Generated(1, 5000, "postgres"))
    assert view.read() == b"one\n"
    assert view.size == 4
    assert content.view().read(0, 8) == b"one\ntwo\n"


def test_a_gigabyte_costs_almost_no_memory() -> None:
    script = textwrap.dedent("""
        from shipper.simulator.world import World
        world = World(seed=1)
        inst = world.add_instance("big", "postgres", bytes_per_hour=0)
        inst.add_file("error/huge.log", 1 << 30)
        inst.append_generated("error/huge.log", 1 << 30)
        rec = inst.file("error/huge.log")
        assert rec.size == 2 << 30
        assert rec.read(0, 100) and rec.read(rec.size - 100, rec.size).endswith(b"\\n")
        total = sum(len(p) for p in rec.iter_bytes(4 << 20, 0, 256 << 20))
        assert total == 256 << 20
        # VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across exec.
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print(int(hwm.split()[1]) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    max_rss_mib = int(out.stdout.strip().splitlines()[-1])
    assert max_rss_mib < 150, f"peak RSS {max_rss_mib} MiB for a lazy 2 GiB generation"
