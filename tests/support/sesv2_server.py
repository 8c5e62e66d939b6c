"""A small SESv2-compatible server for the account-level suppression list, on 127.0.0.1.

moto has none of these operations. This speaks exactly the four bounced uses, in REST-JSON as
botocore sends them (tests/unit/test_sesv2_server.py checks every method, URI, field and error
below against botocore's own service model):

- PutSuppressedDestination: PUT /v2/email/suppression/addresses, body {EmailAddress, Reason}
- DeleteSuppressedDestination: DELETE /v2/email/suppression/addresses/{EmailAddress} (404 when absent)
- GetSuppressedDestination: GET /v2/email/suppression/addresses/{EmailAddress}
- ListSuppressedDestinations: GET /v2/email/suppression/addresses?NextToken=&PageSize=

Fault switches: `throttle(n)` answers the next n calls 429 TooManyRequestsException, `fail(n)` 500;
`down()` closes the listener (connections are refused) and `up()` opens it again on the same port;
`refused` addresses get 400 BadRequestException on a put; `max_page_size` shortens list pages.
Every call that reached the list is recorded in `calls`, in order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PATH = "/v2/email/suppression/addresses"

# (operation, HTTP method, URI) exactly as in botocore's model.
OPERATIONS = (
    ("PutSuppressedDestination", "PUT", PATH),
    ("DeleteSuppressedDestination", "DELETE", PATH + "/{EmailAddress}"),
    ("GetSuppressedDestination", "GET", PATH + "/{EmailAddress}"),
    ("ListSuppressedDestinations", "GET", PATH),
)
PUT_BODY_FIELDS = ("EmailAddress", "Reason")
LIST_QUERY_FIELDS = {"NextToken": "NextToken", "PageSize": "PageSize"}  # member -> query name
LIST_OUTPUT_FIELDS = ("SuppressedDestinationSummaries", "NextToken")
SUMMARY_FIELDS = ("EmailAddress", "Reason", "LastUpdateTime")
GET_OUTPUT_FIELDS = ("SuppressedDestination",)
REASONS = ("BOUNCE", "COMPLAINT")
ERRORS = {"BadRequestException": 400, "NotFoundException": 404, "TooManyRequestsException": 429}
DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Call:
    """One call the list answered (faults included): operation, address (None for a list), HTTP status."""

    operation: str
    address: str | None
    status: int


class FakeSes:
    """The suppression list and its fault switches. Thread-safe: the server answers on its own thread."""

    def __init__(self) -> None:
        self.listed: dict[str, tuple[str, datetime]] = {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._throttle = 0
        self._fail = 0
        self.refused: set[str] = set()  # addresses a put answers 400 BadRequestException for
        self.max_page_size = DEFAULT_PAGE_SIZE  # SES may return fewer than PageSize asks
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same one after `down()`)."""
        handler = type("Handler", (_Handler,), {"ses": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener (and wait for the serving thread)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    down = stop
    up = start

    def throttle(self, calls: int) -> None:
        """Answer the next `calls` calls with 429 TooManyRequestsException."""
        with self._lock:
            self._throttle = calls

    def fail(self, calls: int) -> None:
        """Answer the next `calls` calls with 500."""
        with self._lock:
            self._fail = calls

    def put(self, address: str, reason: str, at: datetime | None = None) -> None:
        """List an address directly (as SES itself would after a bounce)."""
        with self._lock:
            self.listed[address] = (reason, at or datetime.now(UTC))

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, Any], str | None]:
        """Answer one request: (status, JSON document, error type or None)."""
        parts = urlsplit(target)
        address = unquote(parts.path[len(PATH) + 1 :]) if parts.path.startswith(PATH + "/") else None
        operation = _operation(method, parts.path, address)
        if operation == "PutSuppressedDestination":
            address = _body_address(body)
        with self._lock:
            status, document, error = self._fault() or self._answer(operation, address, parts.query, body)
            self.calls.append(Call(operation, address, status))
        return status, document, error

    def _fault(self) -> tuple[int, dict[str, Any], str | None] | None:
        if self._throttle > 0:
            self._throttle -= 1
            return 429, {"message": "Maximum sending rate exceeded."}, "TooManyRequestsException"
        if self._fail > 0:
            self._fail -= 1
            return 500, {"message": "Internal failure"}, "InternalFailure"
        return None

    def _answer(
        self, operation: str, address: str | None, query: str, body: bytes
    ) -> tuple[int, dict[str, Any], str | None]:
        if operation == "PutSuppressedDestination":
            return self._put(body)
        if operation == "ListSuppressedDestinations":
            return self._list(parse_qs(query))
        if address is None or address not in self.listed:
            return 404, {"message": "Email address is not on the suppression list"}, "NotFoundException"
        if operation == "DeleteSuppressedDestination":
            del self.listed[address]
            return 200, {}, None
        if operation == "GetSuppressedDestination":
            reason, at = self.listed[address]
            return 200, {"SuppressedDestination": _summary(address, reason, at)}, None
        return 400, {"message": f"unsupported: {operation}"}, "BadRequestException"

    def _put(self, body: bytes) -> tuple[int, dict[str, Any], str | None]:
        document = json.loads(body or b"{}")
        address, reason = (document.get(name) for name in PUT_BODY_FIELDS)
        if not isinstance(address, str) or reason not in REASONS or address in self.refused:
            return 400, {"message": "EmailAddress and Reason are required"}, "BadRequestException"
        self.listed[address] = (reason, datetime.now(UTC))
        return 200, {}, None

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any], str | None]:
        start = int(query.get(LIST_QUERY_FIELDS["NextToken"], ["0"])[0])
        size = min(
            int(query.get(LIST_QUERY_FIELDS["PageSize"], [str(DEFAULT_PAGE_SIZE)])[0]), self.max_page_size
        )
        addresses = sorted(self.listed)
        page = [_summary(a, *self.listed[a]) for a in addresses[start : start + size]]
        document: dict[str, Any] = {"SuppressedDestinationSummaries": page}
        if start + size < len(addresses):
            document["NextToken"] = str(start + size)
        return 200, document, None


def _operation(method: str, path: str, address: str | None) -> str:
    for name, op_method, uri in OPERATIONS:
        if op_method == method and (uri.endswith("}") == (address is not None)) and path.startswith(PATH):
            return name
    return f"{method} {path}"


def _body_address(body: bytes) -> str | None:
    try:
        value = json.loads(body or b"{}").get("EmailAddress")
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _summary(address: str, reason: str, at: datetime) -> dict[str, Any]:
    # REST-JSON timestamps in a body are epoch seconds unless the model says otherwise.
    return {"EmailAddress": address, "Reason": reason, "LastUpdateTime": at.timestamp()}


class _Handler(BaseHTTPRequestHandler):
    ses: FakeSes
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, document, error = self.ses.handle(self.command, self.path, body)
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `calls`."""


@contextmanager
def running_fake_ses() -> Iterator[FakeSes]:
    """A FakeSes listening on 127.0.0.1 for the duration of the block."""
    ses = FakeSes()
    ses.start()
    try:
        yield ses
    finally:
        ses.stop()
