"""Where the database is, and how to name it without its password.

The commands take the DSN from the settings (bounced.cli.common.configured_database_url);
`database_url_from_env()` is the bare environment lookup.
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

ENV_DATABASE_URL = "BOUNCED_DATABASE_URL"


def database_url_from_env() -> str | None:
    """`BOUNCED_DATABASE_URL`, or None: asyncpg then reads libpq's PG* variables itself."""
    return os.environ.get(ENV_DATABASE_URL) or None


def redact(dsn: str | None) -> str:
    """The DSN fit for a log line or an error: the password replaced by `***`."""
    if dsn is None:
        return "the PG* environment"
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return "<unparsable DSN>"
    if password is None:
        return _redact_query(dsn)
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return _redact_query(urlunsplit(parts._replace(netloc=netloc)))


def without_password(dsn: str) -> str:
    """The DSN with no password at all (not even `***`), for a line a person may copy: libpq's and
    asyncpg's PGPASSWORD then supplies it."""
    parts = urlsplit(dsn)
    if parts.password is not None:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    query = "&".join(p for p in parts.query.split("&") if p and not _is_password_param(p))
    return urlunsplit(parts._replace(query=query))


def has_password(dsn: str) -> bool:
    """Whether the DSN carries a password, not empty (in its user part or as `?password=`)."""
    parts = urlsplit(dsn)
    given = [p.split("=", 1)[-1] for p in parts.query.split("&") if _is_password_param(p)]
    return bool(parts.password) or any(given)


def _is_password_param(param: str) -> bool:
    return param.split("=", 1)[0].lower() == "password"


def _redact_query(dsn: str) -> str:
    """A password given as a query parameter (`?password=...`) is hidden too."""
    head, sep, query = dsn.partition("?")
    if not sep:
        return dsn
    params = ["password=***" if _is_password_param(p) else p for p in query.split("&")]
    return f"{head}?{'&'.join(params)}"


def scrub(message: str, dsn: str | None) -> str:
    """`message` with any password from `dsn` (or PGPASSWORD) blanked out."""
    secrets = [os.environ.get("PGPASSWORD")]
    if dsn:
        with contextlib.suppress(ValueError):
            secrets.append(urlsplit(dsn).password)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
