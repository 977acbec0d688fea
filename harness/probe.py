"""`/healthz` probed every 50 ms from a process of its own, so that a load generator's
event loop cannot delay its timings (the overload test and bench/overload.py)."""

from __future__ import annotations

import json
import subprocess
import sys

__all__ = ["probe_results", "start_probe"]

# A probe in its own process: the load generator's event loop cannot delay its timings.
PROBE = """
import json, sys, time, http.client
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
out, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    started = time.monotonic()
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/healthz")
        code = c.getresponse().status
        c.close()
    except OSError as err:
        code = type(err).__name__
    out.append([time.monotonic() - started, code])
    time.sleep(0.05)
print(json.dumps(out))
"""


def start_probe(url: str, seconds: float) -> subprocess.Popen[str]:
    host, port = url.removeprefix("http://").split(":")
    return subprocess.Popen(
        [sys.executable, "-c", PROBE, host, port, str(seconds)], stdout=subprocess.PIPE, text=True
    )


def probe_results(process: subprocess.Popen[str], timeout: float = 120) -> list[tuple[float, int | str]]:
    """``(seconds, status or error name)`` of every probe, once the prober is done."""
    return [(seconds, code) for seconds, code in json.loads(process.communicate(timeout=timeout)[0])]
