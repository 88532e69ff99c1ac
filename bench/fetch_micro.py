"""Micro-benchmark of the fetch engine's CPU cost per URL.

    .venv/bin/python bench/fetch_micro.py [--urls 5000] [--hosts 200] [--latency 0.005]
                                          [--profile] [--compare]

Starts a tiny keep-alive HTTP/1.1 server in a child process (so its CPU is not counted),
then fetches ``--urls`` distinct page URLs spread over ``--hosts`` host names (an injected
resolver maps every name to 127.0.0.1) with the Fetcher, three times: with one connection pool per
host (the default), with a single shared pool of ``max_concurrency`` connections (what one
``AsyncClient`` gives), and with one shared pool big enough for every host's connections
(``--big-pool``: isolates httpcore's pool bookkeeping from lost keep-alive; slow).
``--compare`` instead runs per-host pools twice on the same server: through httpcore's
``PoolTransport`` and through the lean ``H1Transport`` (the default). Prints wall time, the
client's CPU seconds, CPU per URL, requests sent and connections the server accepted. No
spacing between requests (``host_request_interval=0``) so the run measures CPU, not
politeness.

This script must not touch the network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enricher.config import FetchConfig
from enricher.models import FetchResult, LinkKind
from enricher.net.client import PoolTransport, TransportFactory
from enricher.net.fetch import Fetcher
from enricher.net.guard import Guard

PAGE = (b"<!doctype html><html><head><meta charset=utf-8><title>Bench page</title>"
        b"<meta property='og:title' content='Bench'></head><body>" + b"<p>text</p>" * 150
        + b"</body></html>")


# --- server (child process) ---------------------------------------------------------------

class _Http(asyncio.Protocol):
    connections = 0

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _Http.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            method = head.split(b" ", 1)[0]
            body = b"" if method == b"HEAD" else PAGE
            answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(PAGE)) + body
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self._send, answer)
            else:
                self._send(answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def _serve(latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(latency), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        print(json.dumps({"connections": _Http.connections}), flush=True)


# --- client ---------------------------------------------------------------------------------

class _Resolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]


async def _fetch(port: int, urls: int, hosts: int, partition: bool,
                 pool_size: int | None = None, transport: str = "default") -> dict[str, float]:
    config = FetchConfig(allow_private=True, host_request_interval=0.0, max_concurrency=128,
                         host_concurrency=4, max_attempts=1, http2=False)
    items = [(f"http://h{i % hosts}.bench:{port}/p/{i}", LinkKind.PAGE) for i in range(urls)]
    items.sort()  # real corpora come sorted by host
    results: list[FetchResult] = []
    factory = None
    real = TransportFactory(Guard(_Resolver(), allow_private=True), ca_bundle=None,
                            proxy=None, http2=False, env={})
    if pool_size is not None:  # one shared pool big enough to keep every host's connections

        def factory(**_: object) -> httpx.AsyncBaseTransport:
            return real(max_connections=pool_size)
    elif transport == "httpcore":  # per-host pools, forced through httpcore

        def factory(**kw: object) -> httpx.AsyncBaseTransport:
            size = kw["max_connections"]
            assert isinstance(size, int)
            return PoolTransport(real, size)

    async with Fetcher(config, resolver=_Resolver(), partition_by_host=partition,
                       transport_factory=factory) as fetcher:
        wall, cpu = time.perf_counter(), time.process_time()
        await fetcher.fetch_all(items, results.append)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        requests = fetcher.requests
    ok = sum(r.http_status == 200 and b"</head>" in r.body for r in results)
    return {"wall_s": wall, "cpu_s": cpu, "cpu_ms_per_url": 1000 * cpu / urls,
            "requests": requests, "ok": ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.005, help="server delay, seconds")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the first run")
    parser.add_argument("--big-pool", action="store_true",
                        help="also run one shared pool of 4 x hosts connections (slow)")
    parser.add_argument("--compare", action="store_true",
                        help="per-host pools through httpcore, then through H1Transport")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = parser.parse_args(argv)
    if a.serve:
        asyncio.run(_serve(a.latency))
        return 0
    child = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(a.latency)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        port = json.loads(child.stdout.readline())["port"]
        before = 0
        runs = [("per-host pools", True, None, "default"),
                ("one shared pool", False, None, "default")]
        if a.compare:
            runs = [("per-host httpcore", True, None, "httpcore"),
                    ("per-host h1", True, None, "default")]
        if a.big_pool:
            runs.append(("one big pool", False, 4 * a.hosts, "default"))
        for label, partition, size, transport in runs:
            profiler = None
            if a.profile and partition:
                from pyinstrument import Profiler
                profiler = Profiler()
                profiler.start()
            stats = asyncio.run(_fetch(port, a.urls, a.hosts, partition, size, transport))
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            child.stdin.write("stats\n")
            child.stdin.flush()
            connections = json.loads(child.stdout.readline())["connections"]
            stats["connections"] = connections - before
            before = connections
            print(f"{label:17} urls={a.urls} hosts={a.hosts} "
                  + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in stats.items()), flush=True)
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
