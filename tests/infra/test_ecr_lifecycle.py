"""The ECR lifecycle policy never expires the image the shipper stack runs.

The policy from infra/ecr.yaml is replayed (tests/infra/ecr_lifecycle.py, by the ECR User
Guide's evaluation rules) on deploy histories from infra/deploy.py's tagging: a commit tag per
clean deploy, ``<commit>-dirty<time>`` per deploy of an uncommitted tree.
"""

from __future__ import annotations

import json

import pytest

from tests.infra import cfntools as cfn
from tests.infra.ecr_lifecycle import Image, expired


def policy(**params: int) -> str:
    rendered = cfn.render("ecr.yaml", params)
    return str(rendered.props("Repository")["LifecyclePolicy"]["LifecyclePolicyText"])


def history(commits: int, dirty_per_commit: int) -> list[Image]:
    """Oldest first: each commit deployed clean, then `dirty_per_commit` dirty builds on it."""
    images: list[Image] = []
    age = float(commits * (dirty_per_commit + 1))
    for c in range(commits):
        sha = f"{c:012x}"
        images.append(Image(f"sha256:{sha}", (sha,), age))
        age -= 1
        for d in range(dirty_per_commit):
            tag = f"{sha}-dirty2026120{d % 10}1200{d:02d}"
            images.append(Image(f"sha256:{sha}-{d}", (tag,), age))
            age -= 1
    return images


@pytest.mark.parametrize("running", ["oldest-commit", "newest-commit", "newest-dirty"])
def test_the_running_tag_survives_any_number_of_dirty_pushes(running: str) -> None:
    images = history(commits=40, dirty_per_commit=5)  # 240 pushes, far past the keep count
    clean = [i for i in images if "-dirty" not in i.tags[0]]
    dirty = [i for i in images if "-dirty" in i.tags[0]]
    image = {"oldest-commit": clean[0], "newest-commit": clean[-1],
             "newest-dirty": dirty[-1]}[running]
    gone = expired(policy(), images)
    assert image.digest not in gone
    assert not gone & {i.digest for i in clean}, "commit tags never expire (rollback targets)"
    assert len([i for i in dirty if i.digest not in gone]) == 10, "dirty builds are pruned"


def test_untagged_images_expire_after_their_days() -> None:
    images = [Image("sha256:old", (), 20.0), Image("sha256:new", (), 2.0),
              Image("sha256:abc", ("0123456789ab",), 400.0)]
    assert expired(policy(UntaggedExpireDays=14), images) == {"sha256:old"}


def test_the_old_policy_would_have_expired_the_running_tag() -> None:
    """The replay can fail: "keep the last 30 tagged" (the former rule) loses the running
    commit tag after 30 dirty pushes."""
    old = json.loads(policy())
    old["rules"][1]["selection"]["tagPatternList"] = ["*"]
    old["rules"][1]["selection"]["countNumber"] = 30
    images = history(commits=1, dirty_per_commit=30)
    assert images[0].digest in expired(old, images)
