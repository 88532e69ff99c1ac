"""Resource bounds under attack: every hostile server at once, 10,000 URLs, one enricher run.

``python bench/hostile.py [--urls 10000] [--timeout 2s] [--keep DIR]`` starts (in its own
process, so its CPU is not the tool's) HTTP servers on loopback addresses ``127.0.K.H``, one
behaviour per K, ``--hosts-per-kind`` hosts each, all on one port:

======== ======================================================================================
normal   a small news page (half of the URLs)
gzip     200 MiB of zeros gzipped to ~200 KB;  ``br``: 256 MiB brotli in a few hundred bytes
gzgz     ``Content-Encoding: gzip, gzip``
hugecl   ``Content-Length: 10000000000``, then bytes for as long as the client reads
huge     a 100 MiB identity body (no ``</head>``)
chunked  a chunked body that never ends, at full speed
drip     slowloris: the response head, one byte every 0.5 s
flood    100 000 response headers
silent   accepts, never answers
redirect a 302 whose chunked body never ends, to a normal page
noaccept a listener whose accept queue is full (connect never completes)
======== ======================================================================================

It writes the URLs round-robin over the behaviours into records of at most 2,000 URLs each
(enricher refuses records with more: ``max_urls_per_record``), runs ``python -m enricher check
RECORDS --allow-private --quiet --results OUT --timeout T --connect-timeout C --max-attempts 1``
as a child process (its own working folder, so its history file goes there), and reports the
child's peak RSS (``os.wait4`` ``ru_maxrss``), wall time, the longest request (max
``elapsed_ms`` in the results), the statuses per behaviour, and checks the bounds: peak RSS
< 300 MB, every result within its deadline (``elapsed_ms <= (1 + redirects) x timeout + 250
ms``; ``elapsed_ms`` is the time inside requests, so with one attempt each redirect hop gets
its own deadline and the wait for the host's slot between hops is not counted). Exit status 0
when every bound holds. A JSON summary goes to ``bench/out/``. Linux only (loopback /8). This
module must not import the enricher package: the tool is measured from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
KINDS = ("gzip", "br", "gzgz", "hugecl", "huge", "chunked", "drip", "flood", "silent",
         "redirect", "noaccept")
RSS_LIMIT_MB = 300.0
MARGIN_MS = 250
EXPECTED = {  # behaviour -> statuses it may end with (host_unreachable after the breaker trips)
    "normal": {"ok"}, "gzip": {"ok"}, "br": {"ok"}, "gzgz": {"error"}, "hugecl": {"error"},
    "huge": {"ok"}, "chunked": {"ok"}, "drip": {"timeout", "error"}, "flood": {"error"},
    "silent": {"timeout", "error"}, "redirect": {"ok"}, "noaccept": {"timeout", "error"},
}
NOACCEPT_ADDR = "127.0.99.1"


def kind_addr(kind_index: int, host: int) -> str:
    """Loopback address of host ``host`` of behaviour ``kind_index`` (normal is index 0)."""
    return f"127.0.{10 + kind_index}.{1 + host}"


# --- the hostile web (child process) -----------------------------------------------------------

def _payloads() -> dict[str, bytes]:
    import brotli  # type: ignore[import-untyped]  # a dependency of httpx[brotli]

    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    gz = b"".join([deflate.compress(block) for _ in range(200)] + [deflate.flush()])
    compressor = brotli.Compressor(quality=1)
    br = b"".join([compressor.process(block) for _ in range(256)] + [compressor.finish()])
    page = (b"<!doctype html><html><head><title>A normal story</title>"
            b'<meta property="og:title" content="A normal story">'
            b'<meta name="description" content="Nothing to see here."></head>'
            b"<body><h1>A normal story</h1>" + b"<p>text</p>" * 150 + b"</body></html>")
    return {"gzip": gz, "br": br, "page": page,
            "gzgz": gzip.compress(gzip.compress(page))}


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _answer(kind: str, path: str, p: dict[str, bytes], port: int,
                  reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Serve one request; True to keep the connection for another."""
    html = [("Content-Type", "text/html; charset=utf-8")]
    send = writer.write
    if kind == "normal" or path.startswith("/after-redirect/"):
        send(_head("200 OK", [*html, ("Content-Length", str(len(p["page"])))]) + p["page"])
        await writer.drain()
        return True
    if kind in ("gzip", "br"):
        body = p[kind]
        send(_head("200 OK", [*html, ("Content-Encoding", kind),
                              ("Content-Length", str(len(body)))]) + body)
    elif kind == "gzgz":
        body = p["gzgz"]
        send(_head("200 OK", [*html, ("Content-Encoding", "gzip, gzip"),
                              ("Content-Length", str(len(body)))]) + body)
    elif kind in ("hugecl", "huge"):
        size = 10_000_000_000 if kind == "hugecl" else 100 << 20
        send(_head("200 OK", [*html, ("Content-Length", str(size))]) + b"<html><head><title>x")
        chunk, sent = b"a" * 65536, 0
        while sent < size:
            send(chunk)
            sent += len(chunk)
            await writer.drain()
    elif kind in ("chunked", "redirect"):
        if kind == "chunked":
            send(_head("200 OK", [*html, ("Transfer-Encoding", "chunked")]))
        else:
            target = f"/after-redirect{path}"  # same host: no wait for another host's slot
            send(_head("302 Found", [*html, ("Location", target),
                                     ("Transfer-Encoding", "chunked")]))
        chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
        while True:
            send(chunk)
            await writer.drain()
    elif kind == "drip":
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: " + b"a" * 100_000:
            send(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.5)
    elif kind == "flood":
        send(b"HTTP/1.1 200 OK\r\n" + b"X-Flood: b\r\n" * 100_000 + b"\r\n")
        await writer.drain()
        await _until_closed(reader)
    elif kind == "silent":
        await _until_closed(reader)
    return False


def _kind_of(addr: str) -> str:
    third = int(addr.split(".")[2])
    return "normal" if third == 10 else KINDS[third - 11]


async def _serve(hosts_per_kind: int) -> None:
    payloads = _payloads()
    holder: dict[str, int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        kind = _kind_of(writer.get_extra_info("sockname")[0])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1")
                if not await _answer(kind, path, payloads, holder["port"], reader, writer):
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                IndexError, ValueError):
            pass
        finally:
            writer.close()

    control = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = holder["port"] = control.sockets[0].getsockname()[1]
    served = range(len(KINDS) + 1)  # 0: normal, k: KINDS[k - 1]; "noaccept" has its own socket
    addrs = [kind_addr(k, h) for k in served for h in range(hosts_per_kind)
             if k == 0 or KINDS[k - 1] != "noaccept"]
    servers = [await asyncio.start_server(handle, addrs, port, backlog=1024)]
    blocked = socket.socket()  # "noaccept": an accept queue that is full and never drained
    blocked.bind((NOACCEPT_ADDR, 0))
    blocked.listen(0)
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(blocked.getsockname())
        fillers.append(filler)
    print(json.dumps({"port": port, "noaccept": blocked.getsockname()[1]}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in [control, *servers]:
        server.close()


# --- the run -----------------------------------------------------------------------------------

def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use 500ms or 2s)")
    return float(m[1]) / (1000 if m[2] == "ms" else 1)


def plan(urls: int, hosts_per_kind: int, port: int, noaccept_port: int,
         kinds: tuple[str, ...] = KINDS) -> list[tuple[str, str]]:
    """(url, behaviour) for every URL: half normal, the rest round-robin over ``kinds``."""
    out = []
    for i in range(urls):
        kind = "normal" if i % 2 == 0 else kinds[(i // 2) % len(kinds)]
        host = (i // (2 * len(kinds))) % hosts_per_kind
        if kind == "noaccept":
            out.append((f"http://{NOACCEPT_ADDR}:{noaccept_port}/{kind}/{i}", kind))
        else:
            addr = kind_addr(0 if kind == "normal" else KINDS.index(kind) + 1, host)
            out.append((f"http://{addr}:{port}/{kind}/{i}", kind))
    return out


def write_records(folder: Path, urls: list[tuple[str, str]], per_record: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for start in range(0, len(urls), per_record):
        lines = ["---", f'title: "hostile {count}"', "related:"]
        lines += [f'  - webUrl: "{url}"' for url, _ in urls[start : start + per_record]]
        (folder / f"hostile-{count:02d}.md").write_text("\n".join([*lines, "---", ""]))
        count += 1
    return count


def run_tool(argv: list[str], cwd: Path, log: Path) -> dict[str, Any]:
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return {"wall_s": time.monotonic() - started, "exit": os.waitstatus_to_exitcode(status),
            "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def analyse(results: Path, kinds: dict[str, str], timeout_ms: float) -> dict[str, Any]:
    per_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    longest: dict[str, int] = collections.defaultdict(int)
    over, unexpected, lines, overrun = [], [], 0, 0.0
    for line in results.read_text().splitlines():
        item = json.loads(line)
        if item.get("url") is None:
            continue
        lines += 1
        kind = kinds.get(item["url"], "?")
        status = item["status"]
        per_kind[kind][f"{status}/{item['reason']}"] += 1
        longest[kind] = max(longest[kind], item["elapsed_ms"])
        deadline = (1 + len(item.get("redirects") or [])) * timeout_ms
        overrun = max(overrun, item["elapsed_ms"] - deadline)
        if item["elapsed_ms"] > deadline + MARGIN_MS:
            over.append((item["url"], item["elapsed_ms"], deadline + MARGIN_MS))
        if status not in EXPECTED.get(kind, set()):
            unexpected.append((item["url"], status, item["reason"]))
    return {"results": lines, "per_kind": {k: dict(v) for k, v in sorted(per_kind.items())},
            "longest_ms": dict(sorted(longest.items())), "over_deadline": over[:20],
            "over_deadline_count": len(over), "max_overrun_ms": overrun,
            "unexpected": unexpected[:20],
            "unexpected_count": len(unexpected)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts-per-kind", type=int, default=20)
    parser.add_argument("--per-record", type=int, default=2_000)
    parser.add_argument("--timeout", type=parse_duration, default=2.0)
    parser.add_argument("--connect-timeout", type=parse_duration, default=1.0)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--keep", type=Path, help="keep records, results and logs here")
    parser.add_argument("--tool-extra", default="", help="extra flags for enricher")
    parser.add_argument("--only", default=",".join(KINDS),
                        help="comma-separated behaviours to include (default: all)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.hosts_per_kind))
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="enricher-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    web = subprocess.Popen([sys.executable, __file__, "--serve", "--hosts-per-kind",
                            str(args.hosts_per_kind)], stdout=subprocess.PIPE, text=True)
    try:
        assert web.stdout is not None
        ready = json.loads(web.stdout.readline())
        kinds = tuple(k for k in args.only.split(",") if k)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            parser.error(f"unknown behaviours {sorted(unknown)}; choose from {', '.join(KINDS)}")
        urls = plan(args.urls, args.hosts_per_kind, ready["port"], ready["noaccept"], kinds)
        records = write_records(work / "records", urls, args.per_record)
        results = work / "results.jsonl"
        tool = [args.python, "-m", "enricher", "check", str(work / "records"), "--allow-private",
                "--quiet", "--results", str(results), "--timeout", f"{args.timeout}s",
                "--connect-timeout", f"{args.connect_timeout}s", "--max-attempts", "1",
                *args.tool_extra.split()]
        env_root = str(BENCH.parent)
        os.environ["PYTHONPATH"] = env_root + os.pathsep + os.environ.get("PYTHONPATH", "")
        print(f"{len(urls)} URLs in {records} records, {len(kinds) + 1} behaviours x "
              f"{args.hosts_per_kind} hosts; timeout {args.timeout}s, one attempt", flush=True)
        measured = run_tool(tool, work, work / "enricher.log")
    finally:
        web.send_signal(signal.SIGTERM)
        _, _, web_usage = os.wait4(web.pid, 0)
        web.returncode = 0  # reaped here
    measured["web_cpu_s"] = web_usage.ru_utime + web_usage.ru_stime
    found = analyse(results, dict(urls), args.timeout * 1000) if results.exists() else {}
    longest = max(found.get("longest_ms", {}).values(), default=0)
    checks = {
        f"peak RSS < {RSS_LIMIT_MB:.0f} MB": measured["peak_rss_mb"] < RSS_LIMIT_MB,
        "every URL has a result": found.get("results") == len(urls),
        "every request within its deadline": found.get("over_deadline_count", 1) == 0,
        "every verdict as expected": found.get("unexpected_count", 1) == 0,
        "exit status 0 (no dead link)": measured["exit"] == 0,
    }
    print(f"wall {measured['wall_s']:.1f} s, CPU {measured['cpu_s']:.1f} s (hostile web "
          f"{measured['web_cpu_s']:.1f} s), peak RSS {measured['peak_rss_mb']:.1f} MB, "
          f"exit {measured['exit']}")
    print(f"longest request {longest} ms (deadline {args.timeout * 1000:.0f} ms per hop); "
          f"largest overrun of a deadline {found.get('max_overrun_ms', 0):.0f} ms, "
          f"{found.get('over_deadline_count', 0)} results over deadline + {MARGIN_MS} ms")
    for kind, counts in found.get("per_kind", {}).items():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {kind:<9} max {found['longest_ms'][kind]:>5} ms  {shown}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    for item in found.get("over_deadline", [])[:5] + found.get("unexpected", [])[:5]:
        print(f"      {item}")
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summary = {"urls": len(urls), "records": records, "timeout_s": args.timeout, **measured,
               "longest_ms": longest, **found, "checks": checks}
    (out / f"hostile-{stamp}.json").write_text(json.dumps(summary, indent=2))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
