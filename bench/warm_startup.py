"""Issue 2: warm ``embcli info`` and ``embcli tokenize`` against ``python -c "import numpy"``.

Goal: each at most 3x the bare numpy import, measured in the same session.
Run: python bench/warm_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from _measure import embcli, median_run, minilm_dir, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    model = str(minilm_dir())
    with tempfile.TemporaryDirectory() as cache:
        env = {"EMBCLI_CACHE": cache}
        run([*embcli(), "info", "-m", model], env)  # build the cache once
        base = median_run([sys.executable, "-c", "import numpy"], args.repeat, env)
        print(f"python -c 'import numpy'   {base['wall'] * 1000:7.1f} ms")
        for name, cmd in {
            "info": ["info", "-m", model],
            "tokenize": ["tokenize", "Hello Paris, unbelievable!", "-m", model],
            "neighbors": ["neighbors", "paris", "-m", model],
        }.items():
            r = median_run([*embcli(), *cmd], args.repeat, env)
            ratio = r["wall"] / base["wall"]
            goal = "  (goal <= 3.0x)" if name != "neighbors" else ""
            print(f"embcli {name:<19} {r['wall'] * 1000:7.1f} ms  {ratio:4.2f}x numpy{goal}")


if __name__ == "__main__":
    main()
