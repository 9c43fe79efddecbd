"""Settings: every parser, the loader's precedence rules, and how errors reach the operator."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

import pytest

from shipper.cli import main
from shipper.config import (
    DEFAULT_PREFIX,
    MIB,
    SETTING_ENV_NAMES,
    SETTINGS,
    Settings,
    load_settings,
)
from shipper.exceptions import ConfigError
from shipper.exitcodes import ExitCode

BASE_ENV = {"SHIPPER_BUCKET": "my-log-bucket", "AWS_REGION": "eu-west-1"}
SPEC_BY_FIELD = {spec.field: spec for spec in SETTINGS}
SPEC_BY_ENV = {spec.env: spec for spec in SETTINGS}


def load(**env: str) -> Settings:
    return load_settings({**BASE_ENV, **env}, {})


def config_error(env: dict[str, str], flags: dict[str, str | None] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(env, flags or {})
    return info.value


def clear_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    # If a "bad" value were ever accepted, no network call may follow: no IMDS, no credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# --- valid values --------------------------------------------------------------------------

VALID: list[tuple[str, str, Any]] = [
    ("SHIPPER_BUCKET", "my-logs.bucket-1", "my-logs.bucket-1"),
    ("SHIPPER_BUCKET", "  abc  ", "abc"),
    ("SHIPPER_BUCKET", "a" * 63, "a" * 63),
    ("SHIPPER_PREFIX", "logs", "logs/"),
    ("SHIPPER_PREFIX", "/team/rds/", "team/rds/"),
    ("SHIPPER_PREFIX", "/", ""),
    ("SHIPPER_PREFIX", "ünï/codé", "ünï/codé/"),
    ("SHIPPER_REGIONS", "eu-west-1, us-east-1,eu-west-1", ("eu-west-1", "us-east-1")),
    ("SHIPPER_REGIONS", "us-gov-west-1", ("us-gov-west-1",)),
    ("SHIPPER_REGIONS", "ap-southeast-3", ("ap-southeast-3",)),
    ("SHIPPER_INCLUDE", "prod-*, db-?,,", ("prod-*", "db-?")),
    ("SHIPPER_EXCLUDE", "*-replica", ("*-replica",)),
    ("SHIPPER_ENGINES", "Postgres, aurora-*", ("postgres", "aurora-*")),
    ("SHIPPER_TAGS", "env=prod, team = db", (("env", "prod"), ("team", "db"))),
    ("SHIPPER_TAGS", "flag=", (("flag", ""),)),
    ("SHIPPER_FILE_INCLUDE", "error/*", ("error/*",)),
    ("SHIPPER_FILE_EXCLUDE", "*.trc,*.xel", ("*.trc", "*.xel")),
    ("SHIPPER_CONCURRENCY", "1", 1),
    ("SHIPPER_CONCURRENCY", " 64 ", 64),
    ("SHIPPER_RATE", "0.1", 0.1),
    ("SHIPPER_RATE", "12.5", 12.5),
    ("SHIPPER_RATE", "100", 100.0),
    ("SHIPPER_BURST", "1", 1),
    ("SHIPPER_BURST", "300", 300),
    ("SHIPPER_MAX_RUNTIME", "0", 0.0),
    ("SHIPPER_MAX_RUNTIME", "1", 1.0),
    ("SHIPPER_MAX_RUNTIME", "86400", 86400.0),
    ("SHIPPER_MAX_ATTEMPTS", "1", 1),
    ("SHIPPER_MAX_ATTEMPTS", "20", 20),
    ("SHIPPER_COMPLETE_FILE_VERSIONS", "v19", ("v19",)),
    ("SHIPPER_COMPLETE_FILE_VERSIONS", "v19, v13", ("v19", "v13")),
    ("SHIPPER_KMS_KEY_ID", "alias/rds-logs", "alias/rds-logs"),
    ("SHIPPER_KMS_KEY_ID",
     "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
     "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("SHIPPER_KMS_KEY_ID", "", None),
    ("SHIPPER_ROLE_ARNS",
     "arn:aws:iam::123456789012:role/Reader, arn:aws-us-gov:iam::210987654321:role/a/b-c",
     ("arn:aws:iam::123456789012:role/Reader", "arn:aws-us-gov:iam::210987654321:role/a/b-c")),
    ("SHIPPER_EXTERNAL_ID", " ext-id-1 ", "ext-id-1"),
    ("SHIPPER_LEASE_SECONDS", "1", 1.0),
    ("SHIPPER_LEASE_SECONDS", "3600", 3600.0),
    ("SHIPPER_OBJECT_MIB", "1", 1),
    ("SHIPPER_OBJECT_MIB", "1024", 1024),
    ("SHIPPER_PORTION_MAX_MIB", "0", 0),
    ("SHIPPER_PORTION_MAX_MIB", "64", 64),
    ("SHIPPER_LOG_FORMAT", "JSON", "json"),
    ("SHIPPER_LOG_FORMAT", "text", "text"),
    ("SHIPPER_LOG_FORMAT", "auto", "auto"),
    ("SHIPPER_LOG_LEVEL", "debug", "DEBUG"),
    ("SHIPPER_LOG_LEVEL", "Warning", "WARNING"),
    ("SHIPPER_EMF", "yes", True),
    ("SHIPPER_EMF", "ON", True),
    ("SHIPPER_EMF", "1", True),
    ("SHIPPER_EMF", "false", False),
    ("SHIPPER_EMF", "off", False),
    ("SHIPPER_EMF", "0", False),
    ("SHIPPER_METRICS_NAMESPACE", "Team/RdsLogs", "Team/RdsLogs"),
    ("SHIPPER_RUN_ID", "nightly-2024.01_02", "nightly-2024.01_02"),
    ("SHIPPER_RUN_ID", "  ", None),
]


@pytest.mark.parametrize(("env", "raw", "expected"), VALID)
def test_valid_value_is_parsed(env: str, raw: str, expected: Any) -> None:
    settings = load(**{env: raw})
    assert getattr(settings, SPEC_BY_ENV[env].field) == expected


def test_every_setting_has_a_valid_example() -> None:
    assert {env for env, _, _ in VALID} == {spec.env for spec in SETTINGS}


def test_minimal_environment_gives_documented_defaults() -> None:
    settings = load_settings(BASE_ENV, {})
    assert settings == Settings(bucket="my-log-bucket", regions=("eu-west-1",))
    assert settings.prefix == DEFAULT_PREFIX == "rds-logs/"
    assert settings.object_bytes == 16 * MIB
    assert settings.portion_max_bytes == 8 * MIB


@pytest.mark.parametrize(
    "spec",
    [s for s in SETTINGS if not s.default_text.startswith("(") and s.field != "regions"],
    ids=lambda s: s.env,
)
def test_documented_default_text_parses_to_the_actual_default(spec: Any) -> None:
    """The README/--help default column must not drift from the dataclass defaults."""
    default = {f.name: f.default for f in fields(Settings)}[spec.field]
    assert spec.parse(spec.default_text, spec.env) == default


def test_rate_and_burst_are_unset_by_default_and_ceilings_when_set() -> None:
    settings = load_settings(BASE_ENV, {})
    assert (settings.rate, settings.burst) == (None, None)  # adaptive, documented budget
    capped = load(SHIPPER_RATE="5", SHIPPER_BURST="10")
    assert (capped.rate, capped.burst) == (5.0, 10)
    assert load(SHIPPER_RATE=" ", SHIPPER_BURST="").rate is None


def test_blank_optional_values_fall_back_to_defaults() -> None:
    settings = load(SHIPPER_CONCURRENCY="  ", SHIPPER_PREFIX="", SHIPPER_COMPLETE_FILE_VERSIONS="")
    assert settings.concurrency == 8
    assert settings.prefix == DEFAULT_PREFIX
    assert settings.complete_file_versions == ("v19", "v13")


# --- malformed values ----------------------------------------------------------------------

BAD: dict[str, list[str]] = {
    "bucket": ["ab", "Upper-Case", "a..b", "-leading", "trailing-", "a" * 64, "under_score",
               "with space", "bucket/key"],
    "prefix": ["a/../b", "..", "back\\slash", "ctl\x01char", "del\x7f", "x" * 201],
    "regions": ["mars", "eu-west", "EU-WEST-1", "eu-west-1,nowhere", "eu_west_1"],
    "include": ["db\x01"],
    "exclude": ["\x1bx"],
    "engines": ["post gres", "mysql;drop", "mysql/8"],
    "tags": ["env", "=prod", "env:prod", "k" * 129 + "=v", "env=" + "v" * 257],
    "file_include": ["err\x02or/*"],
    "file_exclude": ["*\x03"],
    "concurrency": ["0", "65", "-1", "eight", "1.5", "1e2"],
    "rate": ["0", "0.05", "100.1", "-1", "fast", "nan", "inf", "1,5"],
    "burst": ["0", "301", "ten"],
    "max_runtime": ["0.5", "-1", "86401", "soon", "nan", "-inf"],
    "max_attempts": ["0", "21", "x"],
    "complete_file_versions": [",", "13", "V13", "v1234", "v13,latest"],
    "kms_key_id": ["key with space", "k" * 2049, "key\x01"],
    "role_arns": ["arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/bob", "Reader",
                  "arn:aws:iam::123456789012:role/ok,bad"],
    "external_id": ["ext\x1bid"],
    "lease_seconds": ["0", "0.5", "3601", "x"],
    "object_mib": ["0", "1025", "x"],
    "portion_max_mib": ["-1", "65", "x"],
    "log_format": ["yaml", "jsonl"],
    "log_level": ["verbose", "critical", "trace"],
    "emf": ["maybe", "2", "enabled"],
    "metrics_namespace": ["has space", "n" * 256, "semi;colon"],
    "run_id": ["has space", "r" * 65, "a/b"],
}
BAD_CASES = [(SPEC_BY_FIELD[f].env, raw) for f, raws in BAD.items() for raw in raws]


def test_every_setting_has_malformed_examples() -> None:
    assert set(BAD) == {spec.field for spec in SETTINGS}


@pytest.mark.parametrize(("env", "raw"), BAD_CASES)
def test_malformed_env_value_raises_config_error_naming_the_env_var(env: str, raw: str) -> None:
    err = config_error({**BASE_ENV, env: raw})
    assert err.setting == env
    line = err.one_line()
    assert line.startswith(f"{env}: ")
    assert "\n" not in line and "\r" not in line
    assert err.exit_code == ExitCode.CONFIG


@pytest.mark.parametrize("field", sorted(BAD), ids=str)
def test_malformed_flag_value_raises_config_error_naming_the_flag(field: str) -> None:
    spec = SPEC_BY_FIELD[field]
    err = config_error(BASE_ENV, {field: BAD[field][0]})
    assert err.setting == spec.flag
    assert err.one_line().startswith(f"{spec.flag}: ")


@pytest.mark.parametrize(("env", "raw"), BAD_CASES)
def test_malformed_env_value_exits_2_with_one_stderr_line(
    env: str, raw: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_env(monkeypatch, **{**BASE_ENV, env: raw})
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith(f"rds-log-shipper: error: {env}: ")
    assert "Traceback" not in err


def test_malformed_flag_exits_2_with_one_stderr_line_naming_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_env(monkeypatch, **BASE_ENV)
    assert main(["run", "--concurrency", "lots"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--concurrency" in err and "'lots'" in err
    assert "Traceback" not in out + err


def test_control_characters_in_a_value_cannot_split_the_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_env(monkeypatch, **{**BASE_ENV, "SHIPPER_BUCKET": "bad\nbucket\r\nname"})
    assert main([]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "\r" not in err
    assert "SHIPPER_BUCKET" in err


@pytest.mark.parametrize("name", ["192.168.5.4", "xn--bucket", "sthree-logs", "logs-s3alias",
                                  "logs--ol-s3"])
def test_bucket_names_s3_forbids_are_config_errors(name: str) -> None:
    assert config_error({**BASE_ENV, "SHIPPER_BUCKET": name}).setting == "SHIPPER_BUCKET"


# --- the bucket: required, with a legacy alias ----------------------------------------------


@pytest.mark.parametrize("env", [{}, {"SHIPPER_BUCKET": ""}, {"SHIPPER_BUCKET": "   "}])
def test_missing_bucket_is_a_config_error_with_a_hint(env: dict[str, str]) -> None:
    err = config_error({"AWS_REGION": "eu-west-1", **env})
    assert err.setting == "SHIPPER_BUCKET"
    line = err.one_line()
    assert "is not set" in line
    assert "RDSLOGSBUCKET" in line and "--bucket" in line


@pytest.mark.parametrize("argv", [[], ["run"], ["status"], ["status", "--json"],
                                  ["state", "show", "--instance", "db-1"]], ids=str)
def test_missing_bucket_exits_2_with_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_env(monkeypatch, AWS_REGION="eu-west-1")
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "SHIPPER_BUCKET" in err
    assert "Traceback" not in out + err


def test_legacy_rdslogsbucket_alias_sets_the_bucket() -> None:
    settings = load_settings({"RDSLOGSBUCKET": "legacy-bucket", "AWS_REGION": "eu-west-1"}, {})
    assert settings.bucket == "legacy-bucket"


def test_shipper_bucket_wins_over_the_alias() -> None:
    env = {"SHIPPER_BUCKET": "new-bucket", "RDSLOGSBUCKET": "legacy-bucket",
           "AWS_REGION": "eu-west-1"}
    assert load_settings(env, {}).bucket == "new-bucket"


def test_blank_shipper_bucket_falls_through_to_the_alias() -> None:
    env = {"SHIPPER_BUCKET": " ", "RDSLOGSBUCKET": "legacy-bucket", "AWS_REGION": "eu-west-1"}
    assert load_settings(env, {}).bucket == "legacy-bucket"


def test_malformed_alias_value_names_the_alias() -> None:
    err = config_error({"RDSLOGSBUCKET": "Bad_Bucket", "AWS_REGION": "eu-west-1"})
    assert err.setting == "RDSLOGSBUCKET"


def test_bucket_flag_satisfies_the_requirement_without_env() -> None:
    settings = load_settings({"AWS_REGION": "eu-west-1"}, {"bucket": "flag-bucket"})
    assert settings.bucket == "flag-bucket"


# --- precedence -----------------------------------------------------------------------------


def test_flags_override_env() -> None:
    env = {**BASE_ENV, "SHIPPER_CONCURRENCY": "4", "SHIPPER_PREFIX": "env/"}
    flags: dict[str, str | None] = {"concurrency": "16", "prefix": "flag", "bucket": "flag-bucket"}
    settings = load_settings(env, flags)
    assert (settings.concurrency, settings.prefix, settings.bucket) == (16, "flag/", "flag-bucket")


def test_unset_flags_leave_env_in_force() -> None:
    env = {**BASE_ENV, "SHIPPER_CONCURRENCY": "4"}
    assert load_settings(env, {"concurrency": None}).concurrency == 4


def test_flag_wins_even_when_env_value_is_malformed() -> None:
    env = {**BASE_ENV, "SHIPPER_CONCURRENCY": "garbage"}
    assert load_settings(env, {"concurrency": "3"}).concurrency == 3


# --- regions --------------------------------------------------------------------------------


def test_region_falls_back_to_aws_region() -> None:
    assert load_settings({"SHIPPER_BUCKET": "abc", "AWS_REGION": "eu-central-1"}, {}).regions \
        == ("eu-central-1",)


def test_region_falls_back_to_aws_default_region() -> None:
    env = {"SHIPPER_BUCKET": "abc", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert load_settings(env, {}).regions == ("ap-south-1",)


def test_aws_region_wins_over_aws_default_region() -> None:
    env = {"SHIPPER_BUCKET": "abc", "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert load_settings(env, {}).regions == ("us-west-2",)


def test_shipper_regions_win_over_aws_region() -> None:
    env = {"SHIPPER_BUCKET": "abc", "SHIPPER_REGIONS": "eu-west-1,eu-west-2",
           "AWS_REGION": "us-west-2"}
    assert load_settings(env, {}).regions == ("eu-west-1", "eu-west-2")


def test_no_region_anywhere_is_a_config_error() -> None:
    err = config_error({"SHIPPER_BUCKET": "abc"})
    assert err.setting == "SHIPPER_REGIONS"
    assert "AWS_REGION" in err.one_line() and "AWS_DEFAULT_REGION" in err.one_line()


def test_empty_region_list_falls_back_like_unset() -> None:
    env = {"SHIPPER_BUCKET": "abc", "SHIPPER_REGIONS": " , ", "AWS_REGION": "eu-north-1"}
    assert load_settings(env, {}).regions == ("eu-north-1",)


def test_no_region_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_env(monkeypatch, SHIPPER_BUCKET="abc")
    assert main([]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "SHIPPER_REGIONS" in err


def test_malformed_aws_region_names_aws_region() -> None:
    err = config_error({"SHIPPER_BUCKET": "abc", "AWS_REGION": "moon-base"})
    assert err.setting == "AWS_REGION"


def test_malformed_aws_default_region_names_aws_default_region() -> None:
    err = config_error({"SHIPPER_BUCKET": "abc", "AWS_DEFAULT_REGION": "moon-base"})
    assert err.setting == "AWS_DEFAULT_REGION"
    assert err.one_line().startswith("AWS_DEFAULT_REGION: ")


# --- the settings table ---------------------------------------------------------------------


def test_setting_env_names_are_every_env_var_and_alias() -> None:
    expected = {spec.env for spec in SETTINGS} | {"RDSLOGSBUCKET"}
    assert expected == SETTING_ENV_NAMES
    assert "AWS_REGION" not in SETTING_ENV_NAMES
    assert all(name.startswith("SHIPPER_") for name in SETTING_ENV_NAMES - {"RDSLOGSBUCKET"})


def test_settings_table_covers_every_settings_field_once() -> None:
    table_fields = [spec.field for spec in SETTINGS]
    assert len(table_fields) == len(set(table_fields))
    assert set(table_fields) == {f.name for f in fields(Settings)} - {"extra"}
    flags = [spec.flag for spec in SETTINGS]
    assert len(flags) == len(set(flags)) and all(f.startswith("--") for f in flags)


def test_only_the_bucket_is_required() -> None:
    assert [spec.env for spec in SETTINGS if spec.required] == ["SHIPPER_BUCKET"]


def test_the_readme_settings_table_is_the_one_generated_from_settings() -> None:
    """The README's table is derived from ``SETTINGS``; `make readme` rewrites it."""
    from tests.support.readme import README, current_table, settings_table

    table = settings_table()
    assert all(f"`{spec.env}`" in table and f"`{spec.flag}`" in table for spec in SETTINGS)
    assert current_table(README.read_text(encoding="utf-8")) == table, (
        "README.md's settings table differs from shipper.config.SETTINGS: run `make readme`")
