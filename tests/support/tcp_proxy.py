"""A TCP proxy on 127.0.0.1 in front of another loopback service, that a test can pause and resume.

Paused, it cuts every open connection and closes each new one as soon as it is accepted, so clients
see the service as unreachable (connection reset / server disconnected) rather than slow. It runs its
own event loop in a thread, so a test that blocks (time.sleep, subprocess waits) does not stall it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from typing import Any

_CHUNK = 65536


class PausableProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._paused = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.refused = 0  # connections cut or refused while paused

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def pause(self) -> None:
        """Cut every connection now and refuse new ones until `resume`."""
        self._call(self._pause())

    def resume(self) -> None:
        """Forward again."""
        self._paused = False

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        await self._pause()
        if self._server is not None:
            self._server.close()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _pause(self) -> None:
        self._paused = True
        for writer in list(self._writers):
            _abort(writer)
            self.refused += 1
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._paused:
            self.refused += 1
            _abort(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _abort(writer)
            return
        self._writers.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for each in (writer, upstream_writer):
                self._writers.discard(each)
                each.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(OSError, ConnectionError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    with suppress(OSError, ConnectionError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


@contextmanager
def pausable_proxy(target_url: str) -> Iterator[PausableProxy]:
    """A started proxy in front of `target_url` (http://127.0.0.1:PORT); closed afterwards."""
    host_port = target_url.split("//", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    proxy = PausableProxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
