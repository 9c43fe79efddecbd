"""Settings: environment variables (the container convention), overridden by CLI flags.

Every setting is declared once in ``SETTINGS``; the loader, the CLI, the README table and the
infrastructure tests all read that table, so a new setting cannot be half-wired.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipper.exceptions import ConfigError
from shipper.setting_values import (
    choice_parser,
    float_parser,
    int_parser,
    parse_bool,
    parse_bucket,
    parse_engines,
    parse_globs,
    parse_kms,
    parse_level,
    parse_namespace,
    parse_optional_text,
    parse_prefix,
    parse_regions,
    parse_role_arns,
    parse_run_id,
    parse_tags,
    parse_versions,
)

DEFAULT_PREFIX = "rds-logs/"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """One plain object holding the validated configuration of a run."""

    bucket: str
    prefix: str = DEFAULT_PREFIX
    regions: tuple[str, ...] = ()
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    file_include: tuple[str, ...] = ("*",)
    file_exclude: tuple[str, ...] = ()
    concurrency: int = 8
    rate: float | None = None  # a ceiling; None: adaptive from the account's documented budget
    burst: int | None = None
    max_runtime: float = 780.0
    max_attempts: int = 8
    complete_file_versions: tuple[str, ...] = ("v19", "v13")
    kms_key_id: str | None = None
    role_arns: tuple[str, ...] = ()
    external_id: str | None = None
    lease_seconds: float = 120.0
    object_mib: int = 16
    portion_max_mib: int = 8
    log_format: str = "auto"
    log_level: str = "INFO"
    emf: bool = True
    metrics_namespace: str = "RdsLogShipper"
    run_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def object_bytes(self) -> int:
        return self.object_mib * MIB

    @property
    def portion_max_bytes(self) -> int:
        return self.portion_max_mib * MIB


@dataclass(frozen=True)
class SettingSpec:
    field: str
    env: str
    flag: str
    parse: Callable[[str, str], Any]
    help: str
    default_text: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    readme: str = ""  # the README table's meaning (Markdown), when it says more than ``help``


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("bucket", "SHIPPER_BUCKET", "--bucket", parse_bucket,
                "S3 bucket that receives logs, state and leases", "(required)",
                aliases=("RDSLOGSBUCKET",), required=True,
                readme=("S3 bucket that receives logs, state and leases (`RDSLOGSBUCKET` is the "
                        "reference design's variable, so its task definition works unchanged)")),
    SettingSpec("prefix", "SHIPPER_PREFIX", "--prefix", parse_prefix,
                "key prefix for everything the shipper writes", DEFAULT_PREFIX),
    SettingSpec("regions", "SHIPPER_REGIONS", "--regions", parse_regions,
                "comma-separated regions to ship from", "AWS_REGION / AWS_DEFAULT_REGION"),
    SettingSpec("include", "SHIPPER_INCLUDE", "--include", parse_globs,
                "comma-separated globs of DB instance identifiers to ship", "*",
                readme=("comma-separated globs of DB instance identifiers to ship "
                        "(case-insensitive)")),
    SettingSpec("exclude", "SHIPPER_EXCLUDE", "--exclude", parse_globs,
                "comma-separated globs of DB instance identifiers to skip", "(none)"),
    SettingSpec("engines", "SHIPPER_ENGINES", "--engines", parse_engines,
                "comma-separated engines (globs allowed), e.g. postgres,aurora-*", "(all)",
                readme="comma-separated engines (globs allowed), e.g. `postgres,aurora-*`"),
    SettingSpec("tags", "SHIPPER_TAGS", "--tags", parse_tags,
                "comma-separated key=value tags an instance must all carry", "(none)",
                readme="comma-separated `key=value` tags an instance must all carry"),
    SettingSpec("file_include", "SHIPPER_FILE_INCLUDE", "--file-include", parse_globs,
                "comma-separated globs of log file names to ship", "*"),
    SettingSpec("file_exclude", "SHIPPER_FILE_EXCLUDE", "--file-exclude", parse_globs,
                "comma-separated globs of log file names to skip", "(none)",
                readme="comma-separated globs of log file names to skip (e.g. `trace/*.trc`)"),
    SettingSpec("concurrency", "SHIPPER_CONCURRENCY", "--concurrency", int_parser(1, 64),
                "worker threads for files (and as many for instances), per account and "
                "region", "8"),
    SettingSpec("rate", "SHIPPER_RATE", "--rate", float_parser(0.1, 100.0),
                "hard ceiling (and start) of the adaptive RDS API request rate per second, per "
                "account and region (unset: from the documented 12/s)", "(adaptive)",
                readme=("hard ceiling on RDS API requests per second, per account and region "
                        "(0.1-100); the rate starts there. Unset, it starts from the documented "
                        "budget (12/s after a burst of 300). Either way it drops to 70% on every "
                        "`Throttling` and grows back by 0.25/s per second while calls succeed, so "
                        "other tools and the console keep their share")),
    SettingSpec("burst", "SHIPPER_BURST", "--burst", int_parser(1, 300),
                "hard ceiling on RDS API requests in a burst above the rate, per account "
                "and region (unset: the documented 300)", "(300)",
                readme=("hard ceiling on RDS API requests in a burst above the rate, per account "
                        "and region (1-300)")),
    SettingSpec("max_runtime", "SHIPPER_MAX_RUNTIME", "--max-runtime",
                float_parser(1.0, 86400.0, allow_zero=True),
                "seconds before a clean stop (0 = no limit); keep it under the schedule", "780",
                readme=("seconds before a clean stop (0 = no limit); keep it under the schedule "
                        "interval")),
    SettingSpec("max_attempts", "SHIPPER_MAX_ATTEMPTS", "--max-attempts", int_parser(1, 20),
                "attempts per AWS call on throttling, 5xx and connection errors", "8"),
    SettingSpec("complete_file_versions", "SHIPPER_COMPLETE_FILE_VERSIONS",
                "--complete-file-versions", parse_versions,
                "path versions of the REST downloadCompleteLogFile endpoint, tried in order",
                "v19,v13",
                readme=("path versions of the REST `downloadCompleteLogFile` endpoint, tried in "
                        "order; an answer that is neither data nor a known error moves on to the "
                        "next version, and the first one that serves data is kept first for the "
                        "run (AWS documents that `/v13/` stops working after 2027-03-01; `/v19/` "
                        "is the current path)")),
    SettingSpec("kms_key_id", "SHIPPER_KMS_KEY_ID", "--kms-key-id", parse_kms,
                "use SSE-KMS with this key (default SSE-S3 AES256)", "(AES256)"),
    SettingSpec("role_arns", "SHIPPER_ROLE_ARNS", "--role-arns", parse_role_arns,
                "comma-separated IAM role ARNs to assume, one per account to ship from",
                "(own account)"),
    SettingSpec("external_id", "SHIPPER_EXTERNAL_ID", "--external-id", parse_optional_text,
                "ExternalId passed when assuming SHIPPER_ROLE_ARNS", "(none)",
                readme="ExternalId passed when assuming `SHIPPER_ROLE_ARNS`"),
    SettingSpec("lease_seconds", "SHIPPER_LEASE_SECONDS", "--lease-seconds",
                float_parser(1.0, 3600.0),
                "lease time-to-live; a crashed holder's lease expires after it", "120",
                readme=("lease time-to-live, renewed every third of it; a crashed holder's lease "
                        "expires after it")),
    SettingSpec("object_mib", "SHIPPER_OBJECT_MIB", "--object-mib", int_parser(1, 1024),
                "uncompressed MiB per data object (memory per worker grows with it)", "16"),
    SettingSpec("portion_max_mib", "SHIPPER_PORTION_MAX_MIB", "--portion-max-mib",
                int_parser(0, 64),
                "a growing file with more unshipped MiB than this streams via REST instead",
                "8",
                readme=("a growing file with more unshipped MiB than this streams via REST "
                        "instead (0: never page)")),
    SettingSpec("log_format", "SHIPPER_LOG_FORMAT", "--log-format",
                choice_parser("auto", "json", "text"),
                "json lines, human text, or auto (text on a terminal)", "auto",
                readme="`json` lines, human `text`, or `auto` (text on a terminal)"),
    SettingSpec("log_level", "SHIPPER_LOG_LEVEL", "--log-level", parse_level,
                "debug, info, warning or error", "info",
                readme="`debug`, `info`, `warning` or `error`"),
    SettingSpec("emf", "SHIPPER_EMF", "--emf", parse_bool,
                "print CloudWatch Embedded Metric Format records", "true"),
    SettingSpec("metrics_namespace", "SHIPPER_METRICS_NAMESPACE", "--metrics-namespace",
                parse_namespace, "CloudWatch namespace of the EMF metrics", "RdsLogShipper"),
    SettingSpec("run_id", "SHIPPER_RUN_ID", "--run-id", parse_run_id,
                "identifier of this run in logs and leases", "(time + random)"),
)

SETTING_ENV_NAMES: frozenset[str] = frozenset(
    name for spec in SETTINGS for name in (spec.env, *spec.aliases)
)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; flags hold raw strings, validated by ``load_settings``."""
    group = parser.add_argument_group("settings (each also read from its environment variable)")
    for spec in SETTINGS:
        group.add_argument(
            spec.flag, dest=f"setting_{spec.field}", metavar=spec.env,
            help=f"{spec.help} [env {spec.env}; default {spec.default_text}]",
        )


def _raw_value(
    spec: SettingSpec, env: Mapping[str, str], flags: Mapping[str, str | None]
) -> tuple[str | None, str]:
    flag_value = flags.get(spec.field)
    if flag_value is not None:
        return flag_value, spec.flag
    for name in (spec.env, *spec.aliases):
        value = env.get(name)
        if value is not None and (value.strip() or not spec.required):
            return value, name
    return None, spec.env


def load_settings(
    env: Mapping[str, str] | None = None, flags: Mapping[str, str | None] | None = None
) -> Settings:
    """Validate every setting up front; raise ``ConfigError`` naming the first bad one."""
    env = os.environ if env is None else env
    flags = flags or {}
    values: dict[str, Any] = {}
    for spec in SETTINGS:
        raw, source = _raw_value(spec, env, flags)
        if raw is None:
            if spec.required:
                raise ConfigError(
                    spec.env, "is not set",
                    f"set {spec.env} (or {', '.join(spec.aliases)}) or pass {spec.flag}"
                    if spec.aliases else f"set it or pass {spec.flag}",
                )
            continue
        if not spec.required and not raw.strip() and spec.field not in ("kms_key_id",):
            continue
        values[spec.field] = spec.parse(raw, source)
    if not values.get("regions"):
        source = "AWS_REGION" if env.get("AWS_REGION") else "AWS_DEFAULT_REGION"
        fallback = env.get(source)
        if not fallback:
            raise ConfigError(
                "SHIPPER_REGIONS", "no region is configured",
                "set SHIPPER_REGIONS, AWS_REGION or AWS_DEFAULT_REGION",
            )
        values["regions"] = parse_regions(fallback, source)
    return Settings(**values)


def flags_from_namespace(namespace: argparse.Namespace) -> dict[str, str | None]:
    return {
        spec.field: getattr(namespace, f"setting_{spec.field}", None) for spec in SETTINGS
    }


def s3_region(settings: Settings, env: Mapping[str, str] = os.environ) -> str:
    """The region of the S3 client: the environment's (the bucket's region, where the task
    runs), else the first region shipped from."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or settings.regions[0]
