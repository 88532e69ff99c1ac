"""Smoke tests of the benchmark harness in bench/ (no enricher involved, loopback only).

simweb serves pages, images and its scripted behaviours and counts what it served; gen_records
writes records that parse and hold exactly the distinct URLs asked for; run.py measures a stand-in
command end to end and computes the politeness bound from simweb's counters.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import imagesize
import pytest
import yaml

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


run = load_runner()  # puts bench/ on sys.path and imports simweb and gen_records from there
simweb = sys.modules["simweb"]
gen_records = sys.modules["gen_records"]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str], Path]]:
    stats_file = tmp_path / "stats.json"
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "simweb.py"), "--hosts", "5", "--latency-ms", "1", "3",
         "--stats-file", str(stats_file)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        port = json.loads(proc.stdout.readline())["port"]
        yield port, proc, stats_file
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_simweb_serves_behaviours_and_counts(web: tuple[int, subprocess.Popen[str], Path]) -> None:
    port, proc, stats_file = web
    url = {code + kind: simweb.make_url(1, port, code, kind, 9) for code in "nrefp"
           for kind in ("news", "img")}
    with httpx.Client(timeout=5) as client:
        page = client.get(url["nnews"])
        assert page.status_code == 200 and 5_000 < len(page.content) < 25_000
        assert '<meta property="og:title"' in page.text.split("</head>")[0]
        image = client.get(url["nimg"])
        assert image.headers["content-type"] == "image/png"  # 9 % 3 == 0: a PNG
        assert imagesize.get(io.BytesIO(image.content)) == simweb.image_dims(9)
        unchanged = client.get(url["nnews"], headers={"If-None-Match": page.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
        head = client.head(url["nnews"])
        assert head.status_code == 200 and head.headers["content-length"] == str(len(page.content))
        first, second = client.get(url["rnews"]), client.get(url["rnews"])
        assert (first.status_code, second.status_code) == (429, 200)
        assert first.headers["retry-after"] == "1"
        assert client.get(url["enews"]).status_code == 500
        assert client.get(url["fimg"]).status_code == 404
        moved = client.get(url["pnews"])
        assert moved.status_code == 301 and moved.headers["location"] == url["nnews"].split(
            str(port), 1)[1]
        stats = client.get(f"http://127.0.0.1:{port}/__stats").json()
    assert stats["urls"][url["nnews"]] == 3 and stats["urls"][url["rnews"]] == 2
    assert stats["requests"] == 9 and stats["methods"] == {"GET": 8, "HEAD": 1}
    assert stats["status"] == {"200": 4, "301": 1, "304": 1, "404": 1, "429": 1, "500": 1}
    host = stats["hosts"][1]
    assert host["addr"] == simweb.host_addr(1) and host["requests"] == 9
    assert host["connections"] == 1 and host["max_concurrent"] == 1
    assert host["min_spacing_ms"] > 0 and sum(h["requests"] for h in stats["hosts"]) == 9

    async def hang_three() -> None:  # hanging answers overlap for sure: concurrency is seen
        async with httpx.AsyncClient(timeout=0.3) as client:
            await client.get(f"http://127.0.0.1:{port}/__reset?gap_ms=1000")
            hang = [simweb.make_url(2, port, "h", "news", k) for k in range(3)]
            outcomes = await asyncio.gather(*(client.get(u) for u in hang), return_exceptions=True)
            assert all(isinstance(o, httpx.ReadTimeout) for o in outcomes)

    asyncio.run(hang_three())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    final = json.loads(stats_file.read_text())
    assert final["requests"] == 3 and final["aborted"] == 3
    assert final["hosts"][2]["max_concurrent"] == 3 and final["hosts"][2]["gaps_below"] == 2
    assert final["hosts"][1]["requests"] == 0  # reset cleared the earlier counts
    assert 0 <= final["hosts"][2]["first_s"] < final["hosts"][2]["last_s"]


def front_matter_urls(text: str) -> list[str]:
    data = yaml.load(text.split("---\n")[1], Loader=yaml.CSafeLoader)
    found: list[str] = []
    for article in [data, *data.get("related", [])]:
        found += [article[k] for k in ("originalUrl", "webUrl", "ampWebUrl", "cdnAmpWebUrl")
                  if k in article]
        for image in article.get("images", []):
            assert (image["width"], image["height"]) == simweb.image_dims(
                simweb.parse_path(image["url"].split(":8080", 1)[1])[2])
            found.append(image["url"])
    assert data["originalUrl"] == data["webUrl"]
    return found


def test_gen_records_parse_with_exact_distinct_urls(tmp_path: Path) -> None:
    spec = gen_records.GenSpec(port=8080, urls=50, hosts=5, records=20, seed=3, scenario="b")
    result = gen_records.generate(spec, tmp_path)
    files = sorted((tmp_path / "records").glob("*.md"))
    assert len(files) == result.records == 20
    occurrences = [u for f in files for u in front_matter_urls(f.read_text(encoding="utf-8"))]
    listed = (tmp_path / "urls.txt").read_text(encoding="utf-8").split()
    assert len(set(occurrences)) == len(listed) == len(set(listed)) == result.distinct == 50
    assert set(occurrences) == set(listed) and len(occurrences) == result.occurrences
    assert 0.8 < result.repeat_share < 0.95
    hosts = [simweb.host_index(u.split("/")[2].split(":")[0]) for u in listed]
    assert set(hosts) <= set(range(5)) and hosts.count(0) == result.host_urls[0] == 8
    first, last = hosts.index(0), len(hosts) - hosts[::-1].index(0)
    assert hosts[first:last] == [0] * 8  # the big host's URLs come in one block
    codes = [simweb.parse_path("/" + u.split("/", 3)[3])[0] for u in listed]
    assert {c: codes.count(c) for c in set(codes)} == result.behaviours
    again = gen_records.generate(spec, tmp_path / "again")
    assert (tmp_path / "again" / "urls.txt").read_text() == "\n".join(listed) + "\n"
    assert again.occurrences == result.occurrences


def test_analyse_bound_and_limits() -> None:
    def host(addr: str, requests: int, busy: float, conc: int, below: int) -> dict[str, Any]:
        return {"addr": addr, "requests": requests, "busy_s": busy, "max_concurrent": conc,
                "min_spacing_ms": 85.0, "gaps_below": below, "gaps_below_raw": below + 1,
                "connections": 1, "first_s": 0.1, "last_s": 2.2}

    plan = {"http://a/n/news/1-x.html": "n", "http://a/e/news/2-x.html": "e"}
    hosts = [host("a", 11, 2.0, 2, 0), host("b", 3, 0.3, 1, 0), host("c", 0, 0.0, 0, 0)]
    stats: dict[str, Any] = {
             "requests": 5, "cpu_s": 0.1, "status": {}, "late_ms_max": 0.0, "aborted": 0,
             "late_ms_mean": 0.0, "late_over_10ms": 0,
             "urls": {"http://a/n/news/1-x.html": 1, "http://a/e/news/2-x.html": 3, "http://o": 1},
             "hosts": hosts}
    m = run.analyse(stats, plan, 2, 0.1, 2.4, {"http://a/n/news/1-x.html": "ok"})
    assert m["bound_s"] == pytest.approx(2.0) and m["bound_host"] == "a"
    assert (m["bound_host_first_s"], m["bound_host_last_s"]) == (0.1, 2.2)
    assert m["wall_over_bound"] == pytest.approx(1.2)
    assert m["requests_per_url"] == 2 and m["requests_per_url_no_retry"] == 1
    assert m["unplanned_requests"] == 1 and m["concurrency_held"] and m["spacing_held"]
    assert m["verdict_mismatches"] == 1  # the 500 URL has no verdict
    assert not run.analyse(stats, plan, 1, 0.11, 2.4, {})["concurrency_held"]
    assert run.analyse(stats, plan, 2, 0.1, 2.4, {})["gaps_below_floor_raw"] == 3
    hosts[1]["gaps_below"] = 1
    assert not run.analyse(stats, plan, 2, 0.1, 2.4, {})["spacing_held"]
    assert run.parse_duration("50ms") == run.parse_duration("0.05s") == run.parse_duration("0.05")


TOOL = """
import json, sys, httpx
urls, results = sys.argv[1], sys.argv[2]
verdict = {200: "ok", 404: "dead", 500: "error"}
with httpx.Client() as client, open(results, "w") as out:
    for url in open(urls).read().split():
        status = client.get(url).status_code
        out.write(json.dumps({"url": url, "status": verdict.get(status, "blocked")}) + "\\n")
"""


def test_run_measures_a_stand_in_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tool.py").write_text(TOOL, encoding="utf-8")
    argv = ["--scenario", "a", "--urls", "40", "--hosts", "5", "--records", "20",
            "--latency-ms", "1", "2", "--host-request-interval", "1ms", "--no-lychee",
            "--out", str(tmp_path / "out"), "--tool-cmd", f"{{python}} {tmp_path}/tool.py {{urls}} "
            "{results}"]
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    assert "wall/bound" in printed and "verdicts as generated PASS" in printed
    [summary_file] = (tmp_path / "out").glob("bench-a-*.json")
    [summary] = json.loads(summary_file.read_text())
    m = summary["median"]["tool"]
    assert m["exit"] == 0 and m["requests"] == 40 and m["requests_per_url"] == 1
    assert m["verdict_mismatches"] == 0 and m["max_concurrent_per_host"] == 1
    assert m["cpu_s"] > 0 and m["peak_rss_mb"] > 5 and m["bound_s"] > 0
