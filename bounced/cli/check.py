"""`bounced check`: is the local daemon alive? Exit 0 when `/healthz` answers 200, 1 otherwise.
`bounced check --ready`: is it ready? The same against `/readyz`.

Liveness is what a supervisor restarts on (Docker's HEALTHCHECK, the systemd watchdog): the daemon
waiting for PostgreSQL is alive. Readiness says whether it can do its work now (PostgreSQL answers,
the schema is current, the queues exist): for load balancers, deploy scripts and alerts.

Made for Docker's HEALTHCHECK and scripts, so it starts fast: stdlib only (urllib), no settings
module, no event loop. It reads `BOUNCED_HTTP_ADDR` (the daemon's listen address) from the
environment; a wildcard listen address is asked on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from bounced.service.listen import local_url

DEFAULT_ADDR = "127.0.0.1:8080"
DEFAULT_TIMEOUT = 5.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `bounced check`."""
    parser = subparsers.add_parser(
        "check",
        help="exit 0 when the local daemon is alive (/healthz), or with --ready ready (/readyz); 1 otherwise",
        description="GET /healthz (liveness) or, with --ready, /readyz (readiness) on BOUNCED_HTTP_ADDR "
        "(default 127.0.0.1:8080); exit 0 on 200, 1 otherwise, with one line on stderr saying why; "
        "2 when BOUNCED_HTTP_ADDR is malformed.",
    )
    parser.add_argument(
        "--ready",
        action="store_true",
        help="ask readiness (/readyz: PostgreSQL answers, schema current, queues exist) instead of liveness",
    )
    parser.add_argument("--url", help="the full URL to ask instead (e.g. http://127.0.0.1:8080/healthz)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait (default 5)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The `bounced check` handler."""
    verdict = "unready" if args.ready else "unhealthy"
    path = "/readyz" if args.ready else "/healthz"
    try:
        url = args.url or local_url(os.environ.get("BOUNCED_HTTP_ADDR", DEFAULT_ADDR), path)
    except ValueError as exc:
        print(f"{verdict}: bad BOUNCED_HTTP_ADDR: {exc}", file=sys.stderr)
        return 2
    healthy, why = probe(url, args.timeout)
    if not healthy:
        print(f"{verdict}: {why}", file=sys.stderr)
        return 1
    return 0


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """GET `url`: (True, "") on 200, else (False, a one-line reason)."""
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- scheme checked above
            status = response.status
            body = response.read()
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} from {url}{_stale_parts(exc.read())}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"cannot reach {url}: {reason}"
    if status != 200:
        return False, f"{status} from {url}{_stale_parts(body)}"
    return True, ""


def _stale_parts(body: bytes) -> str:
    """What a /healthz (stale components) or /readyz (reasons) body says is wrong, on one line."""
    try:
        document = json.loads(body)
        stale, reasons = document.get("stale") or [], document.get("reasons") or []
    except (ValueError, AttributeError):
        return ""
    if stale:
        return f" (stale: {', '.join(map(str, stale))})"
    if reasons:
        return " (" + "; ".join(" ".join(str(r).split()) for r in reasons) + ")"
    return ""
