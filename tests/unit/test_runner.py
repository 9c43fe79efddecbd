"""Instance and file selection, run ids and the stop control."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest

from shipper.config import Settings, load_settings, s3_region
from shipper.rdsapi import DbInstance
from shipper.runner import (
    OWN_ACCOUNT,
    StopControl,
    file_filter,
    instance_selected,
    rate_account,
    round_robin,
    run_id_for,
)


def instance(identifier: str = "prod-db-1", engine: str = "postgres",
             tags: dict[str, str] | None = None) -> DbInstance:
    return DbInstance(identifier=identifier, engine=engine, status="available",
                      account="123456789012", region="eu-west-1", cluster=None,
                      tags=tags or {})


def settings(**overrides: object) -> Settings:
    return Settings(bucket="b", regions=("eu-west-1",), **overrides)


def selected(names: list[str], s: Settings) -> list[str]:
    return [n for n in names if instance_selected(instance(n), s)]


NAMES = ["prod-db-1", "prod-db-1-replica", "dev-db", "analytics"]


def test_default_selects_every_instance() -> None:
    assert selected(NAMES, settings()) == NAMES


def test_include_globs_select_matching_identifiers() -> None:
    assert selected(NAMES, settings(include=("prod-*",))) == ["prod-db-1", "prod-db-1-replica"]
    assert selected(NAMES, settings(include=("dev-db", "analytic?"))) == ["dev-db", "analytics"]


def test_exclude_globs_win_over_include() -> None:
    s = settings(include=("prod-*",), exclude=("*-replica",))
    assert selected(NAMES, s) == ["prod-db-1"]


def test_exclude_alone_removes_from_everything() -> None:
    assert selected(NAMES, settings(exclude=("dev-*", "analytics"))) == \
        ["prod-db-1", "prod-db-1-replica"]


def test_globs_match_the_whole_identifier() -> None:
    assert selected(NAMES, settings(include=("prod",))) == []
    assert selected(NAMES, settings(include=("db",))) == []


@pytest.mark.parametrize(("engines", "engine", "expected"), [
    ((), "oracle-ee", True),
    (("postgres",), "postgres", True),
    (("postgres",), "aurora-postgresql", False),
    (("aurora-*",), "aurora-postgresql", True),
    (("aurora-*",), "aurora-mysql", True),
    (("aurora-*",), "mysql", False),
    (("mysql", "mariadb"), "mariadb", True),
    (("postgres",), "Postgres", True),
    (("sqlserver-*",), "sqlserver-se", True),
])
def test_engine_globs(engines: tuple[str, ...], engine: str, expected: bool) -> None:
    assert instance_selected(instance(engine=engine), settings(engines=engines)) is expected


def test_engine_setting_from_env_is_matched_case_insensitively() -> None:
    s = load_settings({"SHIPPER_BUCKET": "abc", "AWS_REGION": "eu-west-1",
                       "SHIPPER_ENGINES": "Aurora-*"}, {})
    assert instance_selected(instance(engine="aurora-mysql"), s)
    assert not instance_selected(instance(engine="mysql"), s)


@pytest.mark.parametrize(("required", "tags", "expected"), [
    ((), {}, True),
    ((("env", "prod"),), {"env": "prod", "team": "db"}, True),
    ((("env", "prod"),), {"env": "dev"}, False),
    ((("env", "prod"),), {}, False),
    ((("env", "prod"), ("team", "db")), {"env": "prod"}, False),
    ((("env", "prod"), ("team", "db")), {"env": "prod", "team": "db"}, True),
    ((("flag", ""),), {"flag": ""}, True),
    ((("flag", ""),), {}, False),
    ((("env", "prod"),), {"env": "Prod"}, False),
])
def test_every_required_tag_must_match(required: tuple[tuple[str, str], ...],
                                       tags: dict[str, str], expected: bool) -> None:
    assert instance_selected(instance(tags=tags), settings(tags=required)) is expected


def test_all_criteria_combine() -> None:
    s = settings(include=("prod-*",), engines=("postgres",), tags=(("env", "prod"),))
    assert instance_selected(instance("prod-a", "postgres", {"env": "prod"}), s)
    assert not instance_selected(instance("prod-a", "mysql", {"env": "prod"}), s)
    assert not instance_selected(instance("dev-a", "postgres", {"env": "prod"}), s)
    assert not instance_selected(instance("prod-a", "postgres", {"env": "dev"}), s)


FILES = ["error/postgresql.log.2024-01-02-03", "error/postgresql.log.2024-01-02-03.gz",
         "slowquery/mysql-slowquery.log.7", "trace/ORCL_ora_1.trc", "trace/alert_ORCL.log",
         "log/ERROR", "log/SQLAgent.xel"]


def kept(s: Settings) -> list[str]:
    keep = file_filter(s)
    return [f for f in FILES if keep(f)]


def test_file_filter_keeps_everything_by_default() -> None:
    assert kept(settings()) == FILES


def test_file_include_globs() -> None:
    assert kept(settings(file_include=("error/*",))) == FILES[:2]
    assert kept(settings(file_include=("trace/*.log", "log/*"))) == \
        ["trace/alert_ORCL.log", "log/ERROR", "log/SQLAgent.xel"]


def test_file_exclude_globs_win() -> None:
    assert kept(settings(file_exclude=("*.trc", "*.xel"))) == \
        [f for f in FILES if not f.endswith((".trc", ".xel"))]
    assert kept(settings(file_include=("error/*",), file_exclude=("*.gz",))) == [FILES[0]]


def test_a_run_id_is_a_sortable_timestamp_with_a_random_suffix_unless_one_is_set() -> None:
    ids = {run_id_for(settings()) for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", i) for i in ids)
    assert run_id_for(settings(run_id="mine")) == "mine"


def test_the_s3_region_is_the_environments_else_the_first_region_shipped() -> None:
    assert s3_region(settings(), {"AWS_DEFAULT_REGION": "us-west-2"}) == "us-west-2"
    assert s3_region(settings(), {"AWS_REGION": "eu-central-1",
                                  "AWS_DEFAULT_REGION": "us-west-2"}) == "eu-central-1"
    assert s3_region(settings(), {}) == "eu-west-1"


def test_stop_control_keeps_the_first_reason() -> None:
    stop = StopControl(threading.Event())
    stop.request("max-runtime")
    stop.request("SIGTERM")
    assert stop.event.is_set() and stop.reason == "max-runtime"


# --- which RDS budget a call spends, and the order instances are worked in --------------------


def test_rate_account_is_the_account_in_the_role_arn_or_our_own() -> None:
    assert rate_account("arn:aws:iam::210987654321:role/rds-log-reader") == "210987654321"
    assert rate_account("arn:aws-us-gov:iam::111122223333:role/a/b") == "111122223333"
    assert rate_account(None) == OWN_ACCOUNT
    assert rate_account("arn:aws:iam::210987654321:role/a") == rate_account(
        "arn:aws:iam::210987654321:role/b")  # two roles of one account share its budget


def test_round_robin_takes_one_from_each_in_turn_until_all_are_done() -> None:
    merged = round_robin([iter("abc"), iter(""), iter("1"), iter("xy")])
    assert list(merged) == ["a", "1", "x", "b", "y", "c"]


def test_round_robin_is_lazy() -> None:
    pulled: list[str] = []

    def source(name: str, n: int) -> Iterator[str]:
        for i in range(n):
            pulled.append(f"{name}{i}")
            yield f"{name}{i}"

    merged = round_robin([source("a", 3), source("b", 3)])
    assert next(merged) == "a0" and pulled == ["a0"]
    assert next(merged) == "b0" and pulled == ["a0", "b0"]
