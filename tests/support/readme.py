"""The README's settings table, generated from ``shipper.config.SETTINGS`` (its one home).

``python -m tests.support.readme`` (``make readme``) rewrites the table between the markers;
``tests/unit/test_config.py`` fails when the README and ``SETTINGS`` disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from shipper.config import SETTINGS, SettingSpec

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- settings table: generated from shipper.config.SETTINGS by `make readme` -->"
END = "<!-- end of settings table -->"


def _code(text: str) -> str:
    return " / ".join(f"`{part}`" for part in text.split(" / "))


def _default(spec: SettingSpec) -> str:
    text = spec.default_text
    return text if text.startswith("(") or re.fullmatch(r"[0-9.]+", text) else _code(text)


def settings_table() -> str:
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for spec in SETTINGS:
        names = _code(" / ".join((spec.env, *spec.aliases)))
        rows.append(f"| {names} | `{spec.flag}` | {_default(spec)} | "
                    f"{spec.readme or spec.help} |")
    return "\n".join(rows)


def current_table(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[start:end].strip("\n")


def rewrite(path: Path = README) -> bool:
    """Write the generated table into the README; True when it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + settings_table() + "\n" + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    changed = rewrite()
    print("README.md settings table " + ("rewritten" if changed else "already current"))
    sys.exit(0)
