"""Settings: environment variables (the container convention), overridden by CLI flags.

Every setting is declared once in ``SETTINGS``; the loader, the CLI, the README table and the
infrastructure tests all read that table, so a new setting cannot be half-wired.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipper.exceptions import ConfigError

DEFAULT_PREFIX = "rds-logs/"
MIB = 1024 * 1024

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap", "--table-s3")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PATH_VERSION_RE = re.compile(r"^v\d{1,3}$")
_TAG_RE = re.compile(r"^([^=,]{1,128})=([^,]{0,256})$")
_PREFIX_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


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


# --- parsers: each takes the raw string and the setting name, returns a value or raises ---


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse_bucket(raw: str, name: str) -> str:
    value = raw.strip()
    if (not _BUCKET_RE.match(value) or ".." in value or _IP_RE.match(value)
            or value.startswith(_BUCKET_BAD_PREFIXES) or value.endswith(_BUCKET_BAD_SUFFIXES)):
        raise ConfigError(
            name,
            f"{value!r} is not a valid S3 bucket name",
            "3-63 characters: lowercase letters, digits, dots and hyphens",
        )
    return value


def _parse_prefix(raw: str, name: str) -> str:
    value = raw.strip().lstrip("/")
    if _PREFIX_BAD_CHARS.search(value) or ".." in value.split("/"):
        raise ConfigError(name, "contains control characters, backslashes or '..' segments")
    if len(value) > 200:
        raise ConfigError(name, "is longer than 200 characters")
    if value and not value.endswith("/"):
        value += "/"
    return value


def _parse_regions(raw: str, name: str) -> tuple[str, ...]:
    regions = _csv(raw)
    for region in regions:
        if not _REGION_RE.match(region):
            raise ConfigError(name, f"{region!r} is not an AWS region name", "e.g. eu-west-1")
    return tuple(dict.fromkeys(regions))


def _parse_globs(raw: str, name: str) -> tuple[str, ...]:
    globs = _csv(raw)
    for glob in globs:
        if _PREFIX_BAD_CHARS.search(glob):
            raise ConfigError(name, f"pattern {glob!r} contains control characters")
    return globs


def _parse_engines(raw: str, name: str) -> tuple[str, ...]:
    engines = tuple(engine.lower() for engine in _csv(raw))
    for engine in engines:
        if not re.match(r"^[a-z0-9*?-]+$", engine):
            raise ConfigError(name, f"{engine!r} is not an RDS engine name", "e.g. postgres,mysql")
    return engines


def _parse_tags(raw: str, name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in _csv(raw):
        match = _TAG_RE.match(part)
        if not match:
            raise ConfigError(name, f"{part!r} is not key=value", "e.g. env=prod,team=db")
        pairs.append((match.group(1).strip(), match.group(2).strip()))
    return tuple(pairs)


def _int_parser(low: int, high: int) -> Callable[[str, str], int]:
    def parse(raw: str, name: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(name, f"{value} is outside {low}..{high}")
        return value

    return parse


def _float_parser(low: float, high: float, allow_zero: bool = False) -> Callable[[str, str], float]:
    def parse(raw: str, name: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a number") from None
        if value != value or (not low <= value <= high and not (allow_zero and value == 0)):
            raise ConfigError(name, f"{raw.strip()} is outside {low:g}..{high:g}")
        return value

    return parse


def _parse_versions(raw: str, name: str) -> tuple[str, ...]:
    versions = _csv(raw)
    if not versions:
        raise ConfigError(name, "needs at least one path version", "e.g. v19,v13")
    for version in versions:
        if not _PATH_VERSION_RE.match(version):
            raise ConfigError(name, f"{version!r} is not a path version", "e.g. v19 or v13")
    return versions


def _parse_kms(raw: str, name: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not re.match(r"^[A-Za-z0-9:/_+=,.@-]{1,2048}$", value):
        raise ConfigError(name, "is not a KMS key id, ARN or alias")
    return value


def _parse_role_arns(raw: str, name: str) -> tuple[str, ...]:
    arns = _csv(raw)
    for arn in arns:
        if not _ROLE_ARN_RE.match(arn):
            raise ConfigError(
                name, f"{arn!r} is not an IAM role ARN", "arn:aws:iam::123456789012:role/Name"
            )
    return arns


def _parse_optional_text(raw: str, name: str) -> str | None:
    value = raw.strip()
    if _PREFIX_BAD_CHARS.search(value):
        raise ConfigError(name, "contains control characters")
    return value or None


def _choice_parser(*choices: str) -> Callable[[str, str], str]:
    def parse(raw: str, name: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(name, f"{raw.strip()!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _parse_level(raw: str, name: str) -> str:
    return _choice_parser("debug", "info", "warning", "error")(raw, name).upper()


def _parse_bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"{raw.strip()!r} is not true or false")


def _parse_namespace(raw: str, name: str) -> str:
    value = raw.strip()
    if not re.match(r"^[A-Za-z0-9._/#:-]{1,255}$", value):
        raise ConfigError(name, f"{value!r} is not a CloudWatch namespace")
    return value


def _parse_run_id(raw: str, name: str) -> str | None:
    value = raw.strip()
    if value and not re.match(r"^[A-Za-z0-9._-]{1,64}$", value):
        raise ConfigError(name, "use letters, digits, '.', '_' and '-' (at most 64)")
    return value or None


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


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("bucket", "SHIPPER_BUCKET", "--bucket", _parse_bucket,
                "S3 bucket that receives logs, state and leases", "(required)",
                aliases=("RDSLOGSBUCKET",), required=True),
    SettingSpec("prefix", "SHIPPER_PREFIX", "--prefix", _parse_prefix,
                "key prefix for everything the shipper writes", DEFAULT_PREFIX),
    SettingSpec("regions", "SHIPPER_REGIONS", "--regions", _parse_regions,
                "comma-separated regions to ship from", "AWS_REGION / AWS_DEFAULT_REGION"),
    SettingSpec("include", "SHIPPER_INCLUDE", "--include", _parse_globs,
                "comma-separated globs of DB instance identifiers to ship", "*"),
    SettingSpec("exclude", "SHIPPER_EXCLUDE", "--exclude", _parse_globs,
                "comma-separated globs of DB instance identifiers to skip", "(none)"),
    SettingSpec("engines", "SHIPPER_ENGINES", "--engines", _parse_engines,
                "comma-separated engines (globs allowed), e.g. postgres,aurora-*", "(all)"),
    SettingSpec("tags", "SHIPPER_TAGS", "--tags", _parse_tags,
                "comma-separated key=value tags an instance must all carry", "(none)"),
    SettingSpec("file_include", "SHIPPER_FILE_INCLUDE", "--file-include", _parse_globs,
                "comma-separated globs of log file names to ship", "*"),
    SettingSpec("file_exclude", "SHIPPER_FILE_EXCLUDE", "--file-exclude", _parse_globs,
                "comma-separated globs of log file names to skip", "(none)"),
    SettingSpec("concurrency", "SHIPPER_CONCURRENCY", "--concurrency", _int_parser(1, 64),
                "worker threads across instances and files", "8"),
    SettingSpec("rate", "SHIPPER_RATE", "--rate", _float_parser(0.1, 100.0),
                "hard ceiling (and start) of the adaptive RDS API request rate per second, per "
                "account and region (unset: from the documented 12/s)", "(adaptive)"),
    SettingSpec("burst", "SHIPPER_BURST", "--burst", _int_parser(1, 300),
                "hard ceiling on RDS API requests in a burst above the rate, per account "
                "and region (unset: the documented 300)", "(300)"),
    SettingSpec("max_runtime", "SHIPPER_MAX_RUNTIME", "--max-runtime",
                _float_parser(1.0, 86400.0, allow_zero=True),
                "seconds before a clean stop (0 = no limit); keep it under the schedule", "780"),
    SettingSpec("max_attempts", "SHIPPER_MAX_ATTEMPTS", "--max-attempts", _int_parser(1, 20),
                "attempts per AWS call on throttling, 5xx and connection errors", "8"),
    SettingSpec("complete_file_versions", "SHIPPER_COMPLETE_FILE_VERSIONS",
                "--complete-file-versions", _parse_versions,
                "path versions of the REST downloadCompleteLogFile endpoint, tried in order",
                "v19,v13"),
    SettingSpec("kms_key_id", "SHIPPER_KMS_KEY_ID", "--kms-key-id", _parse_kms,
                "use SSE-KMS with this key (default SSE-S3 AES256)", "(AES256)"),
    SettingSpec("role_arns", "SHIPPER_ROLE_ARNS", "--role-arns", _parse_role_arns,
                "comma-separated IAM role ARNs to assume, one per account to ship from",
                "(own account)"),
    SettingSpec("external_id", "SHIPPER_EXTERNAL_ID", "--external-id", _parse_optional_text,
                "ExternalId passed when assuming SHIPPER_ROLE_ARNS", "(none)"),
    SettingSpec("lease_seconds", "SHIPPER_LEASE_SECONDS", "--lease-seconds",
                _float_parser(1.0, 3600.0),
                "lease time-to-live; a crashed holder's lease expires after it", "120"),
    SettingSpec("object_mib", "SHIPPER_OBJECT_MIB", "--object-mib", _int_parser(1, 1024),
                "uncompressed MiB per data object (memory per worker grows with it)", "16"),
    SettingSpec("portion_max_mib", "SHIPPER_PORTION_MAX_MIB", "--portion-max-mib",
                _int_parser(0, 64),
                "a growing file with more unshipped MiB than this streams via REST instead",
                "8"),
    SettingSpec("log_format", "SHIPPER_LOG_FORMAT", "--log-format",
                _choice_parser("auto", "json", "text"),
                "json lines, human text, or auto (text on a terminal)", "auto"),
    SettingSpec("log_level", "SHIPPER_LOG_LEVEL", "--log-level", _parse_level,
                "debug, info, warning or error", "info"),
    SettingSpec("emf", "SHIPPER_EMF", "--emf", _parse_bool,
                "print CloudWatch Embedded Metric Format records", "true"),
    SettingSpec("metrics_namespace", "SHIPPER_METRICS_NAMESPACE", "--metrics-namespace",
                _parse_namespace, "CloudWatch namespace of the EMF metrics", "RdsLogShipper"),
    SettingSpec("run_id", "SHIPPER_RUN_ID", "--run-id", _parse_run_id,
                "identifier of this run in logs and leases", "(random)"),
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
        values["regions"] = _parse_regions(fallback, source)
    return Settings(**values)


def flags_from_namespace(namespace: argparse.Namespace) -> dict[str, str | None]:
    return {
        spec.field: getattr(namespace, f"setting_{spec.field}", None) for spec in SETTINGS
    }


def describe_settings() -> Sequence[tuple[str, str, str, str]]:
    """(env, flag, default, help) rows, for the README table and ``--help``."""
    return [
        (spec.env + "".join(f" / {a}" for a in spec.aliases), spec.flag, spec.default_text,
         spec.help)
        for spec in SETTINGS
    ]
