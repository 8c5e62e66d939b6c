"""Listen addresses (`BOUNCED_HTTP_ADDR`): parsing, and where to reach a daemon listening there.

Stdlib only: `bounced check` uses it on every Docker healthcheck, where importing aiohttp would cost
more than the check itself.
"""

from __future__ import annotations

# asyncio binds IPv6 sockets with IPV6_V6ONLY, so a daemon on `::` does not answer on 127.0.0.1.
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 -- a lookup table, not a bind


def parse_listen_address(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` (BOUNCED_HTTP_ADDR) to (host, port); ValueError when malformed.
    Port 0 is accepted (a free port, for tests)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected host:port or [ipv6]:port, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise ValueError(f"empty IPv6 address in {text!r}")
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError(f"an IPv6 address needs brackets, as in [::1]:8080; got {text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def local_url(listen_address: str, path: str) -> str:
    """The http URL of `path` on a daemon listening on `listen_address`; a wildcard address
    (0.0.0.0, ::) is asked on loopback. ValueError when the address is malformed."""
    host, port = parse_listen_address(listen_address)
    host = _LOOPBACK_FOR.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"
