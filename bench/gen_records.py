"""Generate benchmark records (Markdown + YAML front matter) whose URLs point at bench/simweb.py.

Shape follows the real records (title, excerpt, publishedDateTime, originalUrl, webUrl,
ampWebUrl, cdnAmpWebUrl, provider, images, related[] with webUrl/ampWebUrl/cdnAmpWebUrl/images).
Differences from real data, on purpose: every URL is ``http://127.0.X.Y:PORT/...`` on a simulated
host, and ``cdnAmpWebUrl`` points at the article's simulated host too (real data uses
``*.cdn.ampproject.org``), so no request ever leaves the machine.

Distinct URLs are exactly ``--urls``; about ``--repeat-share`` (0.9) of all URL occurrences repeat
an earlier URL (``originalUrl`` always repeats ``webUrl``; other slots are drawn new-or-repeat by
sequential sampling, repeats favour recent URLs as topic clusters do). Host 0 holds
``--big-share`` (15%) of the distinct URLs and they are introduced in one block of consecutive
records, starting at ``--big-at`` of the way through; file names sort in generation order, as
real corpora come sorted. Scenario ``b`` gives 5% of URLs a bad behaviour (slow, 500, 404,
429-then-200, hang), encoded in the path as simweb expects. Records are written one at a time
(memory holds the URL pools only). This module must not start servers or touch the network.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simweb import host_index, image_dims, make_url, parse_path, slug

#: scenario b: behaviour code -> share of distinct URLs (5% in all; hangs kept few)
BAD_SHARES = (("s", 0.015), ("e", 0.010), ("f", 0.013), ("r", 0.010), ("h", 0.002))
TOP_MEAN = 1 + 1 + 0.4 + 0.4 * 0.9 + 0.9  # webUrl, originalUrl, amp, cdn, image
REL_MEAN = 1 + 0.5 + 0.5 * 0.9 + 0.9  # webUrl, amp, cdn, image
LOCAL_WINDOW, LOCAL_P = 50, 0.6

Article = tuple[str, ...]  # kinds present: "news" always, then any of "amp", "cdn", "img"


@dataclass(frozen=True, slots=True)
class GenSpec:
    port: int
    urls: int = 10_000
    hosts: int = 1_000
    records: int | None = None  # None: derived from urls and repeat_share
    seed: int = 1
    scenario: str = "a"
    repeat_share: float = 0.9
    big_share: float = 0.15
    big_at: float = 0.1


@dataclass(frozen=True, slots=True)
class GenResult:
    records: int
    occurrences: int
    distinct: int
    repeat_share: float
    host_urls: tuple[int, ...]  # distinct URLs per host index
    behaviours: dict[str, int]
    records_dir: str
    urls_file: str


def record_count(spec: GenSpec) -> int:
    if spec.records is not None:
        return spec.records
    total = spec.urls / (1 - spec.repeat_share)
    return max(1, round(total / (TOP_MEAN + 6 * REL_MEAN)))


def skeletons(spec: GenSpec, n_records: int) -> Iterator[list[Article]]:
    """Per record: its articles (top first, then related), the same for the same spec."""
    rng = random.Random(f"{spec.seed}:skeleton")
    per_record = spec.urls / (1 - spec.repeat_share) / n_records
    mean = max(0.0, (per_record - TOP_MEAN) / REL_MEAN)
    lo = max(0, math.floor(mean) - 3)
    hi = max(lo, round(2 * mean - lo))
    for _ in range(n_records):
        amp = rng.random() < 0.4
        top: Article = ("news",) + ("amp",) * amp + ("cdn",) * (amp and rng.random() < 0.9)
        articles = [top + ("img",) * (rng.random() < 0.9)]
        for _ in range(rng.randint(lo, hi)):
            amp = rng.random() < 0.5
            articles.append(("news",) + ("amp",) * amp + ("cdn",) * (amp and rng.random() < 0.9)
                            + ("img",) * (rng.random() < 0.9))
        yield articles


def host_sequence(spec: GenSpec, rng: random.Random) -> list[int]:
    """Host of the k-th new URL: host 0 in one block, other hosts shuffled with a Zipf-like skew."""
    n, h = spec.urls, spec.hosts
    big = n if h == 1 else round(spec.big_share * n)
    others = n - big
    weights = [1 / (r + 1) ** 0.6 for r in range(h - 1)]
    rng.shuffle(weights)
    base = 1 if others >= h - 1 else 0
    rest = others - base * (h - 1)
    total = sum(weights) or 1.0
    counts = [base + math.floor(rest * w / total) for w in weights]
    by_remainder = sorted(range(h - 1), key=lambda j: -(rest * weights[j] / total) % 1)
    for j in by_remainder[: others - sum(counts)]:
        counts[j] += 1
    seq = [j + 1 for j, c in enumerate(counts) for _ in range(c)]
    rng.shuffle(seq)
    start = min(int(spec.big_at * n), len(seq))
    return seq[:start] + [0] * big + seq[start:]


def behaviour_sequence(spec: GenSpec, rng: random.Random) -> list[str]:
    codes = ["n"] * spec.urls
    if spec.scenario == "b":
        pos = 0
        for code, share in BAD_SHARES:
            count = round(share * spec.urls)
            codes[pos: pos + count] = [code] * count
            pos += count
        rng.shuffle(codes)
    elif spec.scenario != "a":
        raise ValueError(f"unknown scenario {spec.scenario!r} (use a or b)")
    return codes


def q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def render_article(urls: dict[str, str], top: bool) -> list[str]:
    web = urls["news"]
    parts = urlsplit(web)
    k = (parse_path(parts.path) or ("n", "news", 0))[2]
    site = host_index(parts.hostname or "") or 0
    title = f"Story {k}: {slug(k, 6).replace('-', ' ').capitalize()}"
    lines = [f"title: {q(title)}", f"excerpt: {q('What happened with ' + slug(k + 1, 5) + '.')}",
             f"publishedDateTime: 2021-01-{1 + k % 28:02d}T{k % 24:02d}:00:00Z"]
    if top:
        lines.append(f"originalUrl: {q(web)}")
    lines.append(f"webUrl: {q(web)}")
    for kind, key in (("amp", "ampWebUrl"), ("cdn", "cdnAmpWebUrl")):
        if kind in urls:
            lines.append(f"{key}: {q(urls[kind])}")
    lines += ["type: article", f"quality: {40 + k % 60}"]
    if top:
        lines += ["heat: -1", "published: true", ""]
    lines += ["provider:", f"  name: Site {site}", f"  domain: site{site}.example"]
    if top:
        lines += ["", "topics:", "  - Benchmark", ""]
    if "img" in urls:
        ik = (parse_path(urlsplit(urls["img"]).path) or ("n", "img", 0))[2]
        w, h = image_dims(ik)
        lines += ["images:", f"  - url: {q(urls['img'])}", f"    width: {w}", f"    height: {h}",
                  "    isCached: true"]
    if top:
        return lines
    return [("  - " if i == 0 else "    ") + line for i, line in enumerate(lines)]


def generate(spec: GenSpec, out_dir: Path) -> GenResult:
    """Write ``out_dir/records/*.md`` and ``out_dir/urls.txt`` (distinct URLs, first-seen order)."""
    n_records = record_count(spec)
    slots = sum(len(a) for rec in skeletons(spec, n_records) for a in rec)
    if slots < spec.urls:
        raise ValueError(f"{n_records} records hold only {slots} URL slots for {spec.urls} "
                         "distinct URLs; raise --records or --repeat-share")
    rng = random.Random(f"{spec.seed}:fill")
    hosts, codes = host_sequence(spec, rng), behaviour_sequence(spec, rng)
    pools: dict[str, list[str]] = {"news": [], "amp": [], "cdn": [], "img": []}
    host_urls = [0] * spec.hosts
    new_left, slots_left, occurrences = spec.urls, slots, 0
    records_dir = out_dir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    urls_file = out_dir / "urls.txt"
    width = len(str(n_records))
    with urls_file.open("w", encoding="utf-8") as urls_out:
        for idx, skeleton in enumerate(skeletons(spec, n_records)):
            rendered: list[list[str]] = []
            for a_i, article in enumerate(skeleton):
                chosen: dict[str, str] = {}
                for kind in article:
                    pool = pools[kind]
                    is_new = rng.random() * slots_left < new_left or (not pool and new_left > 0)
                    slots_left -= 1
                    if is_new:
                        k = spec.urls - new_left
                        new_left -= 1
                        url = make_url(hosts[k], spec.port, codes[k], kind, k)
                        host_urls[hosts[k]] += 1
                        pool.append(url)
                        urls_out.write(url + "\n")
                    elif pool:
                        window = pool[-LOCAL_WINDOW:] if rng.random() < LOCAL_P else pool
                        url = rng.choice(window)
                    else:
                        continue
                    chosen[kind] = url
                if "news" in chosen:
                    occurrences += len(chosen) + (a_i == 0)
                    rendered.append(render_article(chosen, a_i == 0))
            if not rendered:
                continue
            lines = ["---", "category: news", *rendered[0]]
            if len(rendered) > 1:
                lines += ["", "related:"] + [line for r in rendered[1:] for line in r]
            lines += ["---", "", "Generated for the enricher benchmark.", ""]
            name = f"2021-{1 + idx * 12 // n_records:02d}-{idx:0{width}d}-{slug(idx, 3)}.md"
            (records_dir / name).write_text("\n".join(lines), encoding="utf-8")
    distinct = spec.urls - new_left
    behaviours: dict[str, int] = {}
    for code in codes[:distinct]:
        behaviours[code] = behaviours.get(code, 0) + 1
    return GenResult(n_records, occurrences, distinct, round(1 - distinct / max(occurrences, 1), 4),
                     tuple(host_urls), behaviours, str(records_dir), str(urls_file))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("out_dir", type=Path, help="writes OUT_DIR/records/ and OUT_DIR/urls.txt")
    p.add_argument("--port", type=int, required=True, help="simweb's port")
    p.add_argument("--urls", type=int, default=10_000, help="distinct URLs")
    p.add_argument("--hosts", type=int, default=1_000)
    p.add_argument("--records", type=int, help="number of records (default: derived)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenario", choices=("a", "b"), default="a")
    p.add_argument("--repeat-share", type=float, default=0.9)
    p.add_argument("--big-share", type=float, default=0.15)
    p.add_argument("--big-at", type=float, default=0.1)
    a = p.parse_args(argv)
    spec = GenSpec(a.port, a.urls, a.hosts, a.records, a.seed, a.scenario, a.repeat_share,
                   a.big_share, a.big_at)
    try:
        result = generate(spec, a.out_dir)
    except ValueError as exc:
        print(f"gen_records: {exc}", file=sys.stderr)
        return 2
    summary = asdict(result)
    summary["host_urls"] = {"max": max(result.host_urls), "hosts_used": sum(
        1 for c in result.host_urls if c)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
