"""EventBridge event-pattern matching, by the EventBridge User Guide ("Amazon EventBridge event
patterns", "Content filtering in Amazon EventBridge event patterns"), for the rules in
infra/shipper.yaml.

moto cannot be used for this: its ``TestEventPattern`` raises NotImplementedError (moto 5.2)
and its rule matcher does not descend into arrays of objects, so ``detail.containers[].exitCode``
(how ECS reports exit codes) never matches there.

The rules implemented: every key of the pattern must match (AND); a leaf is a list of
conditions of which one must match (OR); an event value that is a list matches when any element
matches; a list of objects is matched element by element against the nested pattern; ``$or``
holds alternative sub-patterns. Conditions: an exact value, ``prefix``, ``suffix``,
``anything-but`` (a value, a list, or ``{"prefix": ...}``), ``exists`` and ``numeric``. A field
absent from the event matches only ``{"exists": false}``.
"""

from __future__ import annotations

import operator
from typing import Any

MISSING = object()
NUMERIC = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt,
           ">=": operator.ge}


def matches(pattern: dict[str, Any], event: Any) -> bool:
    if isinstance(event, list):
        return any(matches(pattern, item) for item in event)
    if not isinstance(event, dict):
        return False
    for key, wanted in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in wanted):
                return False
            continue
        value = event.get(key, MISSING)
        if isinstance(wanted, dict):
            if value is MISSING or not matches(wanted, value):
                return False
        elif not _leaf(wanted, value):
            return False
    return True


def _leaf(conditions: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_condition(c, v) for c in conditions for v in values)


def _condition(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return value is not MISSING and _same(condition, value)
    (kind, arg), = condition.items()
    if kind == "exists":
        return (value is not MISSING) is arg
    if value is MISSING:
        return False
    if kind == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if kind == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if kind == "anything-but":
        if isinstance(arg, dict):
            return not (isinstance(value, str) and value.startswith(arg["prefix"]))
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_same(e, value) for e in excluded)
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        pairs = zip(arg[::2], arg[1::2], strict=True)
        return all(NUMERIC[op](value, bound) for op, bound in pairs)
    raise ValueError(f"condition {kind!r} is not implemented here")


def _same(wanted: Any, value: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return wanted is value
    if isinstance(wanted, (int, float)) and isinstance(value, (int, float)):
        return float(wanted) == float(value)
    return bool(wanted == value)
