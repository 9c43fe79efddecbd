"""A validator for ECR lifecycle policy documents, by the rules of the ECR user guide.

("Lifecycle policy properties in Amazon ECR" and "Examples of lifecycle policies"): every rule
has a unique integer ``rulePriority``; ``tagStatus`` is tagged, untagged or any; a tagged rule
names its tags with ``tagPatternList`` or ``tagPrefixList`` (one of them), other rules with
neither; a pattern has at most four ``*`` wildcards; ``countType`` imageCountMoreThan takes no
``countUnit``, the age-based count types need ``countUnit`` "days"; ``countNumber`` is a
positive integer; ``action.type`` is expire (or transition to the archive storage class); a
rule with tagStatus any must have the highest priority, i.e. be evaluated last.

ECR checks these when the policy is put; moto's ECR does not, and CloudFormation only finds
out during deployment. ``problems()`` returns every broken rule as a sentence; ``expired()``
replays a policy on a list of images and returns what ECR would expire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled",
               "sinceImageTransitioned")
AGE_COUNT_TYPES = COUNT_TYPES[1:]
STORAGE_CLASSES = ("standard", "archive")
RULE_KEYS = {"rulePriority", "description", "selection", "action"}
SELECTION_KEYS = {"tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType",
                  "countUnit", "countNumber"}
MAX_WILDCARDS = 4


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_list(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, str) and v for v in value))


def problems(policy: str | dict[str, Any]) -> list[str]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError as err:
            return [f"not JSON: {err}"]
    if not isinstance(policy, dict) or set(policy) != {"rules"}:
        return ["the document must be an object with exactly one key, 'rules'"]
    rules = policy["rules"]
    if not isinstance(rules, list) or not rules:
        return ["'rules' must be a non-empty list"]

    found: list[str] = []
    priorities: list[int] = []
    any_priorities: list[int] = []
    for index, rule in enumerate(rules):
        where = f"rule {index + 1}"
        if not isinstance(rule, dict):
            found.append(f"{where}: not an object")
            continue
        extra = set(rule) - RULE_KEYS
        if extra:
            found.append(f"{where}: unknown keys {sorted(extra)}")
        priority = rule.get("rulePriority")
        if not _is_int(priority) or priority < 1:
            found.append(f"{where}: rulePriority must be a positive integer, got {priority!r}")
        else:
            where = f"rule priority {priority}"
            priorities.append(priority)
        if "description" in rule and not isinstance(rule["description"], str):
            found.append(f"{where}: description must be a string")

        selection = rule.get("selection")
        if not isinstance(selection, dict):
            found.append(f"{where}: selection is required")
            selection = {}
        extra = set(selection) - SELECTION_KEYS
        if extra:
            found.append(f"{where}: unknown selection keys {sorted(extra)}")
        status = selection.get("tagStatus")
        has_patterns = "tagPatternList" in selection
        has_prefixes = "tagPrefixList" in selection
        if status not in TAG_STATUSES:
            found.append(f"{where}: tagStatus must be one of {TAG_STATUSES}, got {status!r}")
        elif status == "tagged":
            if has_patterns == has_prefixes:
                found.append(f"{where}: a tagged rule needs tagPatternList or tagPrefixList "
                             "(exactly one)")
        elif has_patterns or has_prefixes:
            found.append(f"{where}: tagStatus {status} takes no tagPatternList/tagPrefixList")
        if status == "any" and _is_int(priority):
            any_priorities.append(priority)
        if has_patterns:
            patterns = selection["tagPatternList"]
            if not _string_list(patterns):
                found.append(f"{where}: tagPatternList must be a non-empty list of strings")
            else:
                for pattern in patterns:
                    if pattern.count("*") > MAX_WILDCARDS:
                        found.append(f"{where}: pattern {pattern!r} has more than "
                                     f"{MAX_WILDCARDS} wildcards")
        if has_prefixes and not _string_list(selection["tagPrefixList"]):
            found.append(f"{where}: tagPrefixList must be a non-empty list of strings")

        count_type = selection.get("countType")
        if count_type not in COUNT_TYPES:
            found.append(f"{where}: countType must be one of {COUNT_TYPES}, got {count_type!r}")
        elif count_type in AGE_COUNT_TYPES:
            if selection.get("countUnit") != "days":
                found.append(f"{where}: countType {count_type} needs countUnit 'days'")
        elif "countUnit" in selection:
            found.append(f"{where}: countType imageCountMoreThan takes no countUnit")
        number = selection.get("countNumber")
        if not _is_int(number) or number < 1:
            found.append(f"{where}: countNumber must be a positive integer, got {number!r}")
        storage = selection.get("storageClass", "standard")
        if storage not in STORAGE_CLASSES:
            found.append(f"{where}: storageClass must be standard or archive")
        if (count_type == "sinceImageTransitioned") != (storage == "archive"):
            found.append(f"{where}: storageClass archive goes with sinceImageTransitioned "
                         "(and only with it)")

        action = rule.get("action")
        if not isinstance(action, dict):
            found.append(f"{where}: action is required")
            continue
        action_type = action.get("type")
        if action_type == "expire":
            if set(action) != {"type"}:
                found.append(f"{where}: an expire action takes only 'type'")
        elif action_type == "transition":
            if action.get("targetStorageClass") != "archive" or set(action) != {
                    "type", "targetStorageClass"}:
                found.append(f"{where}: a transition action needs targetStorageClass archive")
        else:
            found.append(f"{where}: action.type must be expire or transition, "
                         f"got {action_type!r}")

    duplicates = sorted({p for p in priorities if priorities.count(p) > 1})
    if duplicates:
        found.append(f"rulePriority values must be unique, repeated: {duplicates}")
    for priority in any_priorities:
        if priority != max(priorities) or priorities.count(priority) > 1:
            found.append(f"rule priority {priority}: a tagStatus any rule must have the "
                         "highest rulePriority")
    return found


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed_days_ago: float


def _selects(selection: dict[str, Any], image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "untagged":
        return not image.tags
    if status == "any":
        return True
    if not image.tags:
        return False
    if "tagPatternList" in selection:
        return any(fnmatchcase(tag, pattern) for tag in image.tags
                   for pattern in selection["tagPatternList"])
    return any(tag.startswith(prefix) for tag in image.tags
               for prefix in selection["tagPrefixList"])


def expired(policy: str | dict[str, Any], images: list[Image]) -> set[str]:
    """Digests the policy expires, by the ECR User Guide's evaluation rules ("Lifecycle
    policies in Amazon ECR": rules apply in rulePriority order; an image matched by a rule's
    tag selection is judged by that rule only, whether or not it expires it; imageCountMoreThan
    keeps the newest countNumber matching images, sinceImagePushed expires those older than
    countNumber days)."""
    doc = json.loads(policy) if isinstance(policy, str) else policy
    assert not problems(doc), problems(doc)
    judged: set[str] = set()
    gone: set[str] = set()
    for rule in sorted(doc["rules"], key=lambda r: r["rulePriority"]):
        selection = rule["selection"]
        matched = [i for i in images if i.digest not in judged and _selects(selection, i)]
        judged.update(i.digest for i in matched)
        if selection["countType"] == "imageCountMoreThan":
            newest_first = sorted(matched, key=lambda i: i.pushed_days_ago)
            gone.update(i.digest for i in newest_first[selection["countNumber"]:])
        else:
            gone.update(i.digest for i in matched
                        if i.pushed_days_ago > selection["countNumber"])
    return gone
