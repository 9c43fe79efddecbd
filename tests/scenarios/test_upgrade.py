"""Upgrading from a release that keyed states by instance identifier (issue 24).

``tests/fixtures/upgrade_d963728.json`` holds every S3 object d963728 left after one run
(``make_upgrade_fixture.py`` beside it made it, run from a checkout of that commit): states and
leases under ``instance=<identifier>``, data objects without ``db-resource-id``. The world is
made again from the same seed, so its files are the ones that release shipped.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from shipper.simulator.s3server import LocalS3
from tests.scenarios.helpers import HOUR, ok_run, request_log
from tests.support.world import PREFIX, AwsWorld, fresh_aws

FIXTURE = Path(__file__).parent.parent / "fixtures" / "upgrade_d963728.json"
# In the order make_upgrade_fixture.py created them: the world's bytes depend on it.
INSTANCES = (("pg", "postgres"), ("my", "mysql"))


def restore(aws: AwsWorld, doc: dict[str, Any]) -> None:
    client = aws.s3_client()
    for obj in doc["objects"]:
        client.put_object(Bucket=aws.bucket, Key=obj["key"], Metadata=obj["metadata"],
                          ContentType=obj["content_type"], Body=base64.b64decode(obj["body"]))


def read_json(aws: AwsWorld, key: str) -> dict[str, Any]:
    body = aws.s3_client().get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    doc: dict[str, Any] = json.loads(body)
    return doc


def test_states_keyed_by_identifier_are_adopted_and_nothing_ships_twice(
        local_s3: LocalS3) -> None:
    doc = json.loads(FIXTURE.read_text())
    with fresh_aws(local_s3, seed=doc["seed"]) as aws:
        assert dict(INSTANCES) == doc["instances"]
        for name, engine in INSTANCES:
            aws.world.add_instance(name, engine, bytes_per_hour=doc["bytes_per_hour"])
        aws.world.advance_to(doc["shipped_at"])
        restore(aws, doc)
        aws.verify().assert_ok()  # the same world: the old release's archive is exact
        legacy = {name: read_json(aws, f"{PREFIX}_state/account={aws.world.account_id}/"
                                       f"region={aws.world.region}/instance={name}.json")
                  for name in doc["instances"]}
        old_keys = set(aws.data_keys())

        aws.world.advance(2 * HOUR)
        res = ok_run(aws)
        assert res.summary["states_adopted"] == 2, res.summary
        assert res.summary["identifiers_reused"] == 0 and res.summary["gap_bytes"] == 0
        adopted = [x for x in res.lines if x.get("message", "").startswith("adopted the state")]
        assert sorted(x["instance"] for x in adopted) == sorted(doc["instances"])
        for name in doc["instances"]:
            state = read_json(aws, aws.state_key(name))
            assert state["resource_id"] == aws.world.instance(name).resource_id
            assert set(legacy[name]["generations"]) <= set(state["generations"]), \
                "every generation of the old state continues under its id"
            record = read_json(aws, f"{PREFIX}_state/account={aws.world.account_id}/"
                                    f"region={aws.world.region}/instance={name}.json")
            assert record == {"instance": name, "name_record": 1,
                              "resource_id": aws.world.instance(name).resource_id}
        assert old_keys <= set(aws.data_keys())
        aws.verify().assert_ok()  # nothing shipped twice, nothing lost, across the upgrade

        with request_log(aws) as rec:
            idle = ok_run(aws)
        assert rec.downloads() == [] and idle.summary["objects_written"] == 0
        assert idle.summary["states_adopted"] == 0
