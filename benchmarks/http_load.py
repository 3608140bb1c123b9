"""HTTP load for the benchmarks: a free port, one GET, and a load of 50 keep-alive clients (wrk
when it is installed, else threads in this process)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from benchmarks.stats import percentile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - localhost only
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wrk(tool: str, url: str, seconds: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [tool, "-t2", "-c50", f"-d{seconds}s", "--latency", "--timeout", "5s", url],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in errs.groups()) if errs else 0)
    return rps, p50, p99, errors


def python_load(url: str, seconds: int) -> tuple[float, float, float, int]:
    """Fallback when wrk is not installed: 50 keep-alive clients in threads (the client's own
    cost on 2 cores inflates these numbers; wrk is preferred)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        mine = []
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            try:
                conn.request("GET", parts.path)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            mine.append((time.perf_counter() - t) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 10)
    return len(latencies) / seconds, percentile(latencies, 50), percentile(latencies, 99), errors[0]
