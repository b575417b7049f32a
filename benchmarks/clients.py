"""Reference clients the audit is compared with; each runs as its own process and prints JSON.

    python -m benchmarks.clients bare    URL URNS CONCURRENCY   # a bare aiohttp worker loop
    python -m benchmarks.clients serial  URL URNS               # one request at a time (requests)
    python -m benchmarks.clients threads URL URNS THREADS       # SDK-style pool over requests

Each prints `{"requests": n, "seconds": s, "statuses": {...}}`; `seconds` covers the requests
only, while the caller times the whole process (start-up included) for the bare loop.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

TOKEN = "emulator-token"
HEADERS = {"X-Auth-Token": TOKEN, "Content-Type": "application/json"}


def tracing_urls(base: str, urns_file: Path) -> Iterator[str]:
    """The tracing URL of each URN in the file, as the auditor builds it (no version)."""
    with urns_file.open(encoding="utf-8") as lines:
        for line in lines:
            urn = line.strip()
            if not urn or urn.startswith("#"):
                continue
            parts = urn.split(":")
            unqualified = ":".join(parts[:7])
            yield f"{base}/v2/{parts[3]}/fgs/functions/{quote(unqualified, safe='')}/tracing"


async def bare_loop(base: str, urns_file: Path, concurrency: int) -> dict[str, object]:
    """`concurrency` workers sharing one iterator of GETs over one aiohttp session."""
    import aiohttp
    from yarl import URL

    statuses: Counter[int] = Counter()
    urls = tracing_urls(base, urns_file)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for url in urls:
                async with session.get(URL(url, encoded=True), headers=HEADERS) as answer:
                    await answer.read()
                    statuses[answer.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _result(statuses, started)


def serial(base: str, urns_file: Path) -> dict[str, object]:
    """One request at a time over a `requests.Session`."""
    import requests

    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    with requests.Session() as session:
        for url in tracing_urls(base, urns_file):
            answer = session.get(url, headers=HEADERS, timeout=10, allow_redirects=False)
            statuses[answer.status_code] += 1
    return _result(statuses, started)


def thread_pool(base: str, urns_file: Path, threads: int) -> dict[str, object]:
    """The SDK pattern: a pool of `threads` threads, each with its own `requests.Session`."""
    import threading

    import requests

    local = threading.local()

    def fetch(url: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        answer = session.get(url, headers=HEADERS, timeout=10, allow_redirects=False)
        return int(answer.status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = Counter(pool.map(fetch, tracing_urls(base, urns_file)))
    return _result(statuses, started)


def _result(statuses: Counter[int], started: float) -> dict[str, object]:
    return {
        "requests": sum(statuses.values()),
        "seconds": time.perf_counter() - started,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main(argv: list[str]) -> int:
    kind, base, urns = argv[0], argv[1], Path(argv[2])
    if kind == "bare":
        result = asyncio.run(bare_loop(base, urns, int(argv[3])))
    elif kind == "serial":
        result = serial(base, urns)
    elif kind == "threads":
        result = thread_pool(base, urns, int(argv[3]))
    else:
        print(f"unknown client {kind!r}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
