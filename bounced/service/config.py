"""Typed, validated settings from `BOUNCED_*` environment variables and an optional TOML file.

Every setting is declared once in `SETTINGS`; the loader, `bounced run --help`'s epilog and the settings
table of docs/reference/configuration.md are all made from that one list (a test fails when it drifts). The
environment wins over the file. Unknown `BOUNCED_*` variables and unknown TOML keys are errors: a
misspelt setting silently ignored is a setting that silently does nothing.

Conventions borrowed rather than invented: AWS endpoints, credentials and region come from the AWS SDK's
own variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`, the credential chain), which
botocore reads itself; PostgreSQL comes from a DSN in `BOUNCED_DATABASE_URL` or, when unset, libpq's
`PG*` variables, which asyncpg reads itself.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bounced.service.listen import parse_listen_address

ENV_PREFIX = "BOUNCED_"
CONFIG_ENV = "BOUNCED_CONFIG"
# TOML tables that are not plain settings: read by their own validators.
TABLES = ("retry", "rules")


class ConfigError(ValueError):
    """A setting is missing or invalid. The message is one line that names the setting."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


def _int_between(low: int, high: int) -> Callable[[object], int]:
    def convert(raw: object) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"must be a whole number from {low} to {high}")
        try:
            value = int(str(raw).strip(), 10) if not isinstance(raw, int) else raw
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}, not {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, not {value}")
        return value

    return convert


def _seconds(low: float, high: float) -> Callable[[object], float]:
    def convert(raw: object) -> float:
        if isinstance(raw, bool):
            raise ValueError("must be a number of seconds")
        try:
            value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise ValueError(f"must be a number of seconds, not {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be from {low:g} to {high:g} seconds, not {value:g}")
        return value

    return convert


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


def _text(raw: object) -> str | None:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, not {type(raw).__name__}")
    return raw.strip() or None


def _queue_url(raw: object) -> str | None:
    url = _text(raw)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(
            f"must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not {url!r}"
        )
    return url


def _database_url(raw: object) -> str | None:
    url = _text(raw)
    if url is None:
        return None
    # Never echo the value, nor any part of it: it may hold a password.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing it is the check
    except ValueError:
        raise ValueError(
            "must be a postgresql:// DSN with a numeric port from 0 to 65535 "
            "(percent-encode reserved characters in the user name and password)"
        ) from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("must be a postgresql:// DSN")
    return url


def _api_token(raw: object) -> str:
    token = _text(raw)
    if token is None:
        # An empty token would turn authentication off without anyone meaning to.
        raise ValueError("is blank; unset it to run the send-gate without authentication")
    return token


def _topic_arns(raw: object) -> frozenset[str]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    arns = frozenset(str(item).strip() for item in items if str(item).strip())
    for arn in arns:
        if not arn.startswith("arn:") or arn.count(":") < 5:
            raise ValueError(f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return arns


_ACCOUNT_ID = re.compile(r"[0-9]{12}")


def _account_ids(raw: object) -> frozenset[str]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    accounts = frozenset(str(item).strip() for item in items if str(item).strip())
    for account in sorted(accounts):
        if not _ACCOUNT_ID.fullmatch(account):
            raise ValueError(f"{account!r} is not an AWS account id (12 digits)")
    return accounts


QUEUE_NAMES = ("bounce", "complaint", "delivery")


def _queue_names(raw: object) -> frozenset[str]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    names = frozenset(str(item).strip().lower() for item in items if str(item).strip())
    unknown = sorted(names - set(QUEUE_NAMES))
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}: list some of {', '.join(QUEUE_NAMES)}")
    return names


def _optional(convert: Callable[[object], Any]) -> Callable[[object], Any]:
    """A converter that also accepts an empty value as "unset"."""

    def optional(raw: object) -> Any:
        if isinstance(raw, str) and not raw.strip():
            return None
        return convert(raw)

    return optional


def _choice(*allowed: str) -> Callable[[object], str]:
    def convert(raw: object) -> str:
        value = str(raw).strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {raw!r}")
        return value

    return convert


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")


def _listen_address(raw: object) -> str:
    text = str(raw).strip()
    problem = f"must be HOST:PORT or [IPv6]:PORT with a port up to 65535, e.g. 127.0.0.1:8080, not {text!r}"
    try:
        host, _ = parse_listen_address(text)
    except ValueError:
        raise ValueError(problem) from None
    if not _is_ip(host) and (_DOTTED_NUMBERS.fullmatch(host) or not _HOSTNAME.fullmatch(host)):
        raise ValueError(problem)
    return text


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its environment variable, TOML key, converter, default and help."""

    env: str
    convert: Callable[[object], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def key(self) -> str:
        """The field name in `Settings` and the key in the TOML file."""
        return self.env.removeprefix(ENV_PREFIX).lower()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "BOUNCED_DATABASE_URL",
        _database_url,
        None,
        "PostgreSQL DSN; when unset, libpq's PG* variables are used.",
        secret=True,
    ),
    Setting("BOUNCED_BOUNCE_QUEUE_URL", _queue_url, None, "SQS queue fed by the bounce topic."),
    Setting("BOUNCED_COMPLAINT_QUEUE_URL", _queue_url, None, "SQS queue fed by the complaint topic."),
    Setting(
        "BOUNCED_DELIVERY_QUEUE_URL",
        _queue_url,
        None,
        "Optional SQS queue fed by the delivery topic. Any queue may carry any kind.",
    ),
    Setting(
        "BOUNCED_RETRY_QUEUE_URL",
        _queue_url,
        None,
        "Optional outbound SQS queue: one JSON message per released retry.",
    ),
    Setting("BOUNCED_POLLERS_PER_QUEUE", _int_between(1, 256), 2, "Concurrent long-pollers per queue."),
    Setting(
        "BOUNCED_BATCH_SIZE", _int_between(1, 10), 10, "Messages asked for per ReceiveMessage (SQS max 10)."
    ),
    Setting("BOUNCED_WAIT_TIME_SECONDS", _int_between(0, 20), 20, "Long-poll wait per ReceiveMessage."),
    Setting(
        "BOUNCED_VISIBILITY_TIMEOUT",
        _int_between(5, 43200),
        60,
        "Seconds a received message stays invisible; extended while its batch works.",
    ),
    Setting(
        "BOUNCED_SHUTDOWN_GRACE",
        _seconds(0, 3600),
        25.0,
        "Seconds in-flight batches get to finish after SIGTERM before they are released.",
    ),
    Setting(
        "BOUNCED_MAX_RECEIVE_COUNT",
        _int_between(1, 1000),
        5,
        "A message received more often than this is quarantined (guards queues with no DLQ).",
    ),
    Setting(
        "BOUNCED_ALLOWED_TOPIC_ARNS",
        _topic_arns,
        frozenset(),
        "Comma-separated SNS topic ARNs; when set, envelopes from other topics are quarantined.",
    ),
    Setting(
        "BOUNCED_ALLOWED_ACCOUNTS",
        _account_ids,
        frozenset(),
        "Comma-separated AWS account ids (12 digits); when set, EventBridge events from other accounts,"
        " or naming none, are quarantined (account_not_allowed).",
    ),
    Setting(
        "BOUNCED_VERIFY_SIGNATURES",
        _boolean,
        default=True,
        help="Verify SNS signatures (turn off only for local emulators).",
    ),
    Setting(
        "BOUNCED_UNSIGNED_QUEUES",
        _queue_names,
        frozenset(),
        "Comma-separated queues (bounce, complaint, delivery) that receive unsigned bodies (SNS raw"
        " message delivery, or an EventBridge rule). With signature checks on, a body without an SNS"
        " envelope on any other queue is quarantined (unsigned_body); on these, the queue policy is its"
        " only guard.",
    ),
    Setting(
        "BOUNCED_HTTP_ADDR",
        _listen_address,
        "127.0.0.1:8080",
        "Listen address of /healthz, /readyz, /metrics and the send-gate.",
    ),
    Setting(
        "BOUNCED_HTTP_MAX_CONNECTIONS",
        _int_between(1, 4096),
        256,
        "Most HTTP connections open at once; further ones are closed as soon as they are accepted.",
    ),
    Setting(
        "BOUNCED_API_TOKEN",
        _api_token,
        None,
        "Bearer token the send-gate (/v1/*) requires when set; a blank one is refused.",
        secret=True,
    ),
    Setting("BOUNCED_LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info", "Log level."),
    Setting(
        "BOUNCED_LOG_FORMAT",
        _choice("auto", "json", "console"),
        "auto",
        "Log format; auto is JSON off a terminal, readable on one.",
    ),
    Setting(
        "BOUNCED_RETENTION_DAYS",
        _int_between(1, 36500),
        180,
        "Days raw notification payloads are kept in the audit log.",
    ),
    Setting(
        "BOUNCED_SCHEDULER_INTERVAL",
        _seconds(0.05, 3600),
        5.0,
        "Seconds between scans for due retries (and for SES suppression-list calls to make).",
    ),
    Setting(
        "BOUNCED_QUEUE_METRICS_INTERVAL",
        _seconds(1, 3600),
        30.0,
        "Seconds between GetQueueAttributes refreshes of the queue-depth metric.",
    ),
    Setting(
        "BOUNCED_ESCALATE_NONEXISTENT",
        _boolean,
        default=False,
        help="Suppress transient bounces whose status says the address or domain does not exist.",
    ),
    Setting(
        "BOUNCED_SES_SUPPRESSION",
        _choice("off", "push"),
        "off",
        "push: put every address bounced suppresses on SES's account-level suppression list (and take"
        " it off on unsuppress), through an outbox; off: leave SES's list alone.",
    ),
    Setting(
        "BOUNCED_DATABASE_POOL_SIZE",
        _optional(_int_between(1, 500)),
        None,
        "Most PostgreSQL connections held; unset: one per poller plus 4 (scheduler, gauges, HTTP),"
        " plus 1 with BOUNCED_SES_SUPPRESSION=push.",
    ),
)

SETTINGS_BY_ENV = {setting.env: setting for setting in SETTINGS}
SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}
QUEUE_SETTINGS = {name: f"{name}_queue_url" for name in QUEUE_NAMES}


OUTBOUND_QUEUE_SETTING = "BOUNCED_RETRY_QUEUE_URL"


def queue_setting_names(settings: Settings) -> dict[str, str]:
    """Every configured queue URL (inbound and the outbound retry queue) by its setting's name."""
    names = [f"{ENV_PREFIX}{name.upper()}_QUEUE_URL" for name in QUEUE_SETTINGS] + [OUTBOUND_QUEUE_SETTING]
    urls = {name: getattr(settings, SETTINGS_BY_ENV[name].key) for name in names}
    return {name: url for name, url in urls.items() if url}


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration. Field names are the settings' keys."""

    database_url: str | None = None
    bounce_queue_url: str | None = None
    complaint_queue_url: str | None = None
    delivery_queue_url: str | None = None
    retry_queue_url: str | None = None
    pollers_per_queue: int = 2
    batch_size: int = 10
    wait_time_seconds: int = 20
    visibility_timeout: int = 60
    shutdown_grace: float = 25.0
    max_receive_count: int = 5
    allowed_topic_arns: frozenset[str] = frozenset()
    allowed_accounts: frozenset[str] = frozenset()
    verify_signatures: bool = True
    unsigned_queues: frozenset[str] = frozenset()
    http_addr: str = "127.0.0.1:8080"
    http_max_connections: int = 256
    api_token: str | None = None
    log_level: str = "info"
    log_format: str = "auto"
    retention_days: int = 180
    scheduler_interval: float = 5.0
    queue_metrics_interval: float = 30.0
    escalate_nonexistent: bool = False
    ses_suppression: str = "off"
    database_pool_size: int | None = None
    # Tables from the TOML file, validated by their owners (policy, classify).
    retry: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[str, Any] = field(default_factory=dict)

    def queues(self) -> dict[str, str]:
        """The configured inbound queues by short name (bounce, complaint, delivery)."""
        urls = {name: getattr(self, key) for name, key in QUEUE_SETTINGS.items()}
        return {name: url for name, url in urls.items() if url}

    def pool_size(self) -> int:
        """PostgreSQL connections to hold: as configured, else one per poller plus 4, so pollers never
        queue for a connection behind each other (each holds one only while it commits), plus one
        for the SES suppression-list sender when it runs."""
        if self.database_pool_size is not None:
            return self.database_pool_size
        return self.pollers_per_queue * max(len(self.queues()), 1) + 4 + int(self.pushes_to_ses())

    def pushes_to_ses(self) -> bool:
        """Whether suppressions go to SES's account-level suppression list."""
        return self.ses_suppression == "push"

    def require_queues(self) -> dict[str, str]:
        """The inbound queues, or a ConfigError when none is configured."""
        queues = self.queues()
        if not queues:
            raise ConfigError("BOUNCED_BOUNCE_QUEUE_URL", "not set (set at least one queue URL)")
        return queues


def _assert_settings_match_fields() -> None:
    names = {f.name for f in fields(Settings)} - set(TABLES)
    if names != set(SETTINGS_BY_KEY):
        raise AssertionError(f"SETTINGS and Settings disagree: {names ^ set(SETTINGS_BY_KEY)}")


_assert_settings_match_fields()


def load_settings(environ: Mapping[str, str], config_path: str | None = None) -> Settings:
    """Settings from a TOML file (`config_path`, else $BOUNCED_CONFIG) overridden by the environment."""
    values: dict[str, Any] = {}
    path = config_path or environ.get(CONFIG_ENV) or None
    if path:
        values.update(_read_toml(Path(path)))
    values.update(_read_environment(environ))
    return Settings(**values)


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        setting = SETTINGS_BY_ENV.get(name)
        if setting is None:
            raise ConfigError(name, "unknown setting (see `bounced run --help` for the list)")
        values[setting.key] = _convert(setting, name, raw)
    return values


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(CONFIG_ENV, f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(CONFIG_ENV, f"{path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in document.items():
        if key in TABLES:
            if not isinstance(raw, dict):
                raise ConfigError(key, "must be a table")
            values[key] = raw
            continue
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            raise ConfigError(key, f"unknown key in {path}")
        values[key] = _convert(setting, key, raw)
    return values


def _convert(setting: Setting, name: str, raw: object) -> Any:
    try:
        return setting.convert(raw)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


def settings_help() -> str:
    """The settings as a plain-text list, for `--help` epilogs."""
    lines = ["settings (environment variables; TOML keys are the lower-case names without BOUNCED_):"]
    for setting in SETTINGS:
        default = "unset" if setting.default in (None, frozenset()) else str(setting.default)
        lines.append(f"  {setting.env} (default {default}): {setting.help}")
    return "\n".join(lines)


def settings_markdown() -> str:
    """The settings as the configuration reference's table (docs/gen_reference.py writes it)."""
    rows = ["| variable | TOML key | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = "unset" if setting.default in (None, frozenset()) else f"`{setting.default}`"
        rows.append(f"| `{setting.env}` | `{setting.key}` | {default} | {setting.help} |")
    return "\n".join(rows)
