"""Test helper: a minimal real HTTP/2 server over TLS on 127.0.0.1 (h2 + asyncio), falling
back to a minimal HTTP/1.1 server on connections where ALPN did not pick "h2".

* ``H2Server(route, ca=ca, names={"h2.test": ("h2", "http/1.1")})`` serves one port; each
  server name (SNI) gets its own ALPN offer, so one port can offer h2 to one name and only
  http/1.1 to another. The certificate (issued by the trustme ``ca``) covers every name.
* ``route(request)`` returns an ``Answer``, a ``Gate`` (answer once that many gated requests
  are waiting on the same connection: only a multiplexing client can open it), a ``Reset``
  (RST_STREAM with its code) or ``None`` (never answer: the stream stays open until the
  client gives up). ``max_streams`` is the concurrent streams a connection allows.
* The server records every request (``Seen``: connection, ALPN protocol, stream id, method,
  path) and every connection (``Conn``: protocol, streams, peak open streams, resets).
  Response bodies are sent in frames within the client's flow-control windows.

Nothing here touches the internet, sleeps or decides anything about enricher; this module
must not be imported by the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trustme
from netserver import LoopbackServer


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("content-type", "text/html; charset=utf-8"),)
    after: float = 0.0  # simulated server latency (seconds) before the answer leaves
    end: bool = True  # False: send the body, then keep the stream open (no END_STREAM)
    length: int | None = None  # the content-length it declares (default: the body's)


@dataclass(frozen=True, slots=True)
class Reset:
    """Answer with RST_STREAM ``code`` (7: REFUSED_STREAM) instead of a response."""

    code: int = 7


@dataclass(frozen=True, slots=True)
class Gate:
    """Answer only when ``waiting`` gated requests are pending on one connection."""

    waiting: int
    answer: Answer


@dataclass(frozen=True, slots=True)
class Seen:
    connection: int  # 1-based, in order of acceptance
    protocol: str  # the ALPN-selected protocol: "h2", "http/1.1", "" (none)
    stream: int  # the HTTP/2 stream id; 0 over HTTP/1.1
    method: str
    path: str
    authority: str  # :authority (HTTP/2) or Host (HTTP/1.1)


@dataclass(slots=True)
class Conn:
    number: int
    protocol: str
    server_name: str
    streams: int = 0  # requests received
    open: int = 0  # streams received and not yet finished
    peak_open: int = 0
    resets: int = 0  # RST_STREAM frames from the client


Route = Callable[[Seen], Answer | Gate | Reset | None]


class H2Server(LoopbackServer):
    """``async with H2Server(route, ca=ca) as srv: srv.url("h2.test", "/page")``."""

    def __init__(self, route: Route, *, ca: trustme.CA,
                 names: Mapping[str, tuple[str, ...]] | None = None,
                 max_streams: int = 100) -> None:
        self.route = route
        self.max_streams = max_streams  # SETTINGS_MAX_CONCURRENT_STREAMS it announces
        self.names = dict(names or {"h2.test": ("h2", "http/1.1")})
        cert = ca.issue_cert(*self.names)
        self._contexts: dict[str, ssl.SSLContext] = {}
        for name, alpn in self.names.items():
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            ctx.set_alpn_protocols(list(alpn))
            self._contexts[name] = ctx
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(tls)  # no ALPN: names we do not know get none
        tls.sni_callback = self._sni
        super().__init__(tls)
        self.seen: list[Seen] = []
        self.conns: list[Conn] = []
        self._sni_names: dict[int, str] = {}

    def _sni(self, sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        self._sni_names[id(sock)] = name or ""
        found = self._contexts.get(name or "")
        if found is not None:
            sock.context = found  # its ALPN offer applies: OpenSSL picks ALPN after SNI

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.port}{path}"

    def protocols(self) -> set[str]:
        return {s.protocol for s in self.seen}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        conn = Conn(len(self.conns) + 1, (tls and tls.selected_alpn_protocol()) or "",
                    self._sni_names.pop(id(tls), ""))
        self.conns.append(conn)
        try:
            if conn.protocol == "h2":
                await _H2(self, conn, reader, writer).run()
            else:
                await self._http1(conn, reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                h2.exceptions.ProtocolError, asyncio.CancelledError):
            pass  # the client went away, or the test is over

    def _arrived(self, conn: Conn, stream: int, method: str, path: str,
                 authority: str) -> Seen:
        seen = Seen(conn.number, conn.protocol, stream, method, path, authority)
        self.seen.append(seen)
        conn.streams += 1
        conn.open += 1
        conn.peak_open = max(conn.peak_open, conn.open)
        return seen

    async def _http1(self, conn: Conn, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            host = next((v.strip() for k, v in fields.items() if k.lower() == "host"), "")
            seen = self._arrived(conn, 0, method, target, host)
            answer = self.route(seen)
            if isinstance(answer, Gate):  # one request at a time here: never more waiting
                answer = None if answer.waiting > 1 else answer.answer
            if answer is None:
                await asyncio.Event().wait()
                return
            if answer.after > 0:
                await asyncio.sleep(answer.after)  # simulated latency, not synchronisation
            lines = [f"HTTP/1.1 {answer.status} X", f"content-length: {len(answer.body)}"]
            lines += [f"{k}: {v}" for k, v in answer.headers]
            out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            writer.write(out if method == "HEAD" else out + answer.body)
            await writer.drain()
            conn.open -= 1


@dataclass(slots=True)
class _Outgoing:
    data: bytes
    end: bool = True  # END_STREAM with the last frame


@dataclass(slots=True)
class _H2:
    """One HTTP/2 connection: read frames, answer requests, send within the windows."""

    server: H2Server
    conn: Conn
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    state: h2.connection.H2Connection = field(init=False)
    outgoing: dict[int, _Outgoing] = field(default_factory=dict)
    gated: dict[int, Gate] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.state = h2.connection.H2Connection(config=config)
        self.state.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_streams})

    async def run(self) -> None:
        self.state.initiate_connection()
        await self.flush()
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            for event in self.state.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.request(event)
                elif isinstance(event, h2.events.StreamReset):
                    self.conn.resets += 1
                    self.finish(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    await self.flush()
                    return
            self.open_gates()
            self.pump()
            await self.flush()

    def request(self, event: h2.events.RequestReceived) -> None:
        assert event.stream_id is not None and event.headers is not None
        pseudo = {str(k): str(v) for k, v in event.headers if str(k).startswith(":")}
        seen = self.server._arrived(self.conn, event.stream_id, pseudo.get(":method", ""),
                                    pseudo.get(":path", ""), pseudo.get(":authority", ""))
        self.open.add(event.stream_id)
        answer = self.server.route(seen)
        if isinstance(answer, Gate):
            self.gated[event.stream_id] = answer
        elif isinstance(answer, Reset):
            self.state.reset_stream(event.stream_id, answer.code)
            self.finish(event.stream_id)
        elif answer is not None and answer.after > 0:
            asyncio.get_running_loop().call_later(answer.after, self.late, event.stream_id,
                                                  answer, seen.method == "HEAD")
        elif answer is not None:
            self.answer(event.stream_id, answer, head_only=seen.method == "HEAD")

    def late(self, stream_id: int, answer: Answer, head_only: bool) -> None:
        if stream_id in self.open and not self.writer.is_closing():
            with contextlib.suppress(h2.exceptions.ProtocolError):  # the client went away
                self.answer(stream_id, answer, head_only=head_only)
                self.pump()
                self.writer.write(self.state.data_to_send())

    def open_gates(self) -> None:
        if self.gated and len(self.gated) >= min(g.waiting for g in self.gated.values()):
            gated, self.gated = self.gated, {}
            for stream_id, gate in gated.items():
                self.answer(stream_id, gate.answer, head_only=False)

    def answer(self, stream_id: int, answer: Answer, *, head_only: bool) -> None:
        declared = len(answer.body) if answer.length is None else answer.length
        length = [("content-length", str(declared))] if answer.end else []
        headers = [(":status", str(answer.status)), *answer.headers, *length]
        empty = head_only or not answer.body
        self.state.send_headers(stream_id, headers, end_stream=empty and answer.end)
        if empty and answer.end:
            self.finish(stream_id)
        elif not empty:
            self.outgoing[stream_id] = _Outgoing(answer.body, answer.end)

    def pump(self) -> None:
        """Send queued bodies as far as the stream and connection windows allow."""
        for stream_id, out in list(self.outgoing.items()):
            while out.data:
                room = min(self.state.local_flow_control_window(stream_id),
                           self.state.max_outbound_frame_size)
                if room <= 0:
                    break
                chunk, out.data = out.data[:room], out.data[room:]
                self.state.send_data(stream_id, chunk, end_stream=out.end and not out.data)
            if not out.data:
                del self.outgoing[stream_id]
                if out.end:
                    self.finish(stream_id)

    def finish(self, stream_id: int) -> None:
        self.outgoing.pop(stream_id, None)
        self.gated.pop(stream_id, None)
        if stream_id in self.open:
            self.open.discard(stream_id)
            self.conn.open -= 1

    async def flush(self) -> None:
        data = self.state.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

