"""How each setting's text is read and checked: every parser takes the raw string and the
setting's name, and returns the value or raises ``ConfigError`` naming the setting. Which
setting uses which parser is ``shipper.config.SETTINGS``."""

from __future__ import annotations

import re
from collections.abc import Callable

from shipper.exceptions import ConfigError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap", "--table-s3")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PATH_VERSION_RE = re.compile(r"^v\d{1,3}$")
_TAG_RE = re.compile(r"^([^=,]{1,128})=([^,]{0,256})$")
_PREFIX_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_bucket(raw: str, name: str) -> str:
    value = raw.strip()
    if (not _BUCKET_RE.match(value) or ".." in value or _IP_RE.match(value)
            or value.startswith(_BUCKET_BAD_PREFIXES) or value.endswith(_BUCKET_BAD_SUFFIXES)):
        raise ConfigError(
            name,
            f"{value!r} is not a valid S3 bucket name",
            "3-63 characters: lowercase letters, digits, dots and hyphens",
        )
    return value


def parse_prefix(raw: str, name: str) -> str:
    value = raw.strip().lstrip("/")
    if _PREFIX_BAD_CHARS.search(value) or ".." in value.split("/"):
        raise ConfigError(name, "contains control characters, backslashes or '..' segments")
    if len(value) > 200:
        raise ConfigError(name, "is longer than 200 characters")
    if value and not value.endswith("/"):
        value += "/"
    return value


def parse_regions(raw: str, name: str) -> tuple[str, ...]:
    regions = _csv(raw)
    for region in regions:
        if not _REGION_RE.match(region):
            raise ConfigError(name, f"{region!r} is not an AWS region name", "e.g. eu-west-1")
    return tuple(dict.fromkeys(regions))


def parse_globs(raw: str, name: str) -> tuple[str, ...]:
    globs = _csv(raw)
    for glob in globs:
        if _PREFIX_BAD_CHARS.search(glob):
            raise ConfigError(name, f"pattern {glob!r} contains control characters")
    return globs


def parse_engines(raw: str, name: str) -> tuple[str, ...]:
    engines = tuple(engine.lower() for engine in _csv(raw))
    for engine in engines:
        if not re.match(r"^[a-z0-9*?-]+$", engine):
            raise ConfigError(name, f"{engine!r} is not an RDS engine name", "e.g. postgres,mysql")
    return engines


def parse_tags(raw: str, name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in _csv(raw):
        match = _TAG_RE.match(part)
        if not match:
            raise ConfigError(name, f"{part!r} is not key=value", "e.g. env=prod,team=db")
        pairs.append((match.group(1).strip(), match.group(2).strip()))
    return tuple(pairs)


def int_parser(low: int, high: int) -> Callable[[str, str], int]:
    def parse(raw: str, name: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(name, f"{value} is outside {low}..{high}")
        return value

    return parse


def float_parser(low: float, high: float, allow_zero: bool = False) -> Callable[[str, str], float]:
    def parse(raw: str, name: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a number") from None
        if value != value or (not low <= value <= high and not (allow_zero and value == 0)):
            raise ConfigError(name, f"{raw.strip()} is outside {low:g}..{high:g}")
        return value

    return parse


def parse_versions(raw: str, name: str) -> tuple[str, ...]:
    versions = _csv(raw)
    if not versions:
        raise ConfigError(name, "needs at least one path version", "e.g. v19,v13")
    for version in versions:
        if not _PATH_VERSION_RE.match(version):
            raise ConfigError(name, f"{version!r} is not a path version", "e.g. v19 or v13")
    return versions


def parse_kms(raw: str, name: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not re.match(r"^[A-Za-z0-9:/_+=,.@-]{1,2048}$", value):
        raise ConfigError(name, "is not a KMS key id, ARN or alias")
    return value


def parse_role_arns(raw: str, name: str) -> tuple[str, ...]:
    arns = _csv(raw)
    for arn in arns:
        if not _ROLE_ARN_RE.match(arn):
            raise ConfigError(
                name, f"{arn!r} is not an IAM role ARN", "arn:aws:iam::123456789012:role/Name"
            )
    return arns


def parse_optional_text(raw: str, name: str) -> str | None:
    value = raw.strip()
    if _PREFIX_BAD_CHARS.search(value):
        raise ConfigError(name, "contains control characters")
    return value or None


def choice_parser(*choices: str) -> Callable[[str, str], str]:
    def parse(raw: str, name: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(name, f"{raw.strip()!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_level(raw: str, name: str) -> str:
    return choice_parser("debug", "info", "warning", "error")(raw, name).upper()


def parse_bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"{raw.strip()!r} is not true or false")


def parse_namespace(raw: str, name: str) -> str:
    value = raw.strip()
    if not re.match(r"^[A-Za-z0-9._/#:-]{1,255}$", value):
        raise ConfigError(name, f"{value!r} is not a CloudWatch namespace")
    return value


def parse_run_id(raw: str, name: str) -> str | None:
    value = raw.strip()
    if value and not re.match(r"^[A-Za-z0-9._-]{1,64}$", value):
        raise ConfigError(name, "use letters, digits, '.', '_' and '-' (at most 64)")
    return value or None
