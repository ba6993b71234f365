"""``evaluate analogies|similarity`` as results: the bundled benchmarks and their reports.

The scoring itself lives in :mod:`embcli.ask.evaluate` (gensim 4.4's method, imported only when a
benchmark runs: it needs scipy); this module names the bundled files and wraps the reports as
:class:`embcli.view.Result` objects whose ``to_dict()`` is the CLI's JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError, UsageProblem
from embcli.store.table import EmbeddingTable
from embcli.view import Result, View

BUNDLED = {
    "google": "questions-words.txt",
    "questions-words": "questions-words.txt",
    "wordsim353": "wordsim353.tsv",
    "simlex999": "simlex999.txt",
    "simlex": "simlex999.txt",
}
Progress = Callable[[int, int, str], None]


def benchmark_path(name: str | os.PathLike[str] | None, default: str) -> Path:
    """A bundled benchmark by name (``google``, ``wordsim353``, ``simlex999``) or a file path."""
    chosen = str(name or default)
    if chosen.lower() in BUNDLED:
        return Path(str(resources.files("embcli") / "data" / BUNDLED[chosen.lower()]))
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise EmbcliError(
            f"no benchmark file {chosen}", f"bundled: {', '.join(sorted(set(BUNDLED)))}"
        )
    return path


@dataclass
class AnalogyScores(Result):
    """Analogy accuracy per section and in total; ``report`` is the JSON-ready dict."""

    report: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.report[key]

    @property
    def accuracy(self) -> float | None:
        share: float | None = self.report["total"]["accuracy"]
        return share

    def to_dict(self) -> dict[str, Any]:
        return self.report

    def view(self) -> View:
        r = self.report
        rows = [_section_row(s) for s in r["sections"]] + [_section_row(r["total"])]
        asked = r["total"]["answered"] + r["total"]["skipped"]
        caption = (
            f"{r['model']}: {r['method']}, {r['vocabulary']}, "
            f"{'case-insensitive' if r['case_insensitive'] else 'case-sensitive'}; "
            f"coverage {r['coverage']:.1%} of {asked:,} questions"
        )
        return View(
            ["section", "correct", "answered", "skipped", "accuracy"], rows, caption=caption
        )


def _section_row(s: dict[str, Any]) -> tuple[Any, ...]:
    acc = f"{s['accuracy']:.4f}" if s["accuracy"] is not None else ""
    return (s["section"], s["correct"], s["answered"], s["skipped"], acc)


def evaluate_analogies(
    table: EmbeddingTable,
    file: str | Path | None = None,
    *,
    method: str = "3cosadd",
    restrict_vocab: int | None = 300_000,
    case_sensitive: bool = False,
    progress: Progress | None = None,
) -> AnalogyScores:
    """Analogy accuracy on ``file`` (default: Google's questions-words), as gensim computes it."""
    from embcli.ask import evaluate

    if method not in ("3cosadd", "3cosmul"):
        raise UsageProblem(f"method must be 3cosadd or 3cosmul, not {method!r}", param="method")
    path = benchmark_path(file, "google")
    report = evaluate.evaluate_analogies(
        table, path, restrict_vocab or None, method, not case_sensitive, progress
    )
    return AnalogyScores(report)


@dataclass
class PairScores(Result):
    """Spearman and Pearson correlation with human similarity judgements."""

    report: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.report[key]

    @property
    def spearman(self) -> float:
        return float(self.report["spearman"])

    def to_dict(self) -> dict[str, Any]:
        return self.report

    def view(self) -> View:
        r = self.report
        rows = [
            ("benchmark", Path(r["benchmark"]).name),
            ("pairs used", f"{r['pairs']:,}"),
            ("out of vocabulary", f"{r['oov_pairs']:,} pairs ({r['oov_ratio']:.1%})"),
            ("Spearman", f"{r['spearman']:.4f} (p = {r['spearman_p']:.2g})"),
            ("Pearson", f"{r['pearson']:.4f} (p = {r['pearson_p']:.2g})"),
            ("vocabulary", r["vocabulary"]),
        ]
        if r.get("skipped_lines"):
            skipped = f"{r['skipped_lines']:,} (not word<TAB>word<TAB>score)"
            rows.insert(2, ("lines skipped", skipped))
        return View(["field", "value"], rows, key_value=True)


def evaluate_similarity(
    table: EmbeddingTable,
    file: str | Path | None = None,
    *,
    restrict_vocab: int | None = 300_000,
    case_sensitive: bool = False,
) -> PairScores:
    """Correlation of cosine with human scores on ``file`` (default: WordSim-353)."""
    from embcli.ask import evaluate

    path = benchmark_path(file, "wordsim353")
    return PairScores(
        evaluate.evaluate_pairs(table, path, restrict_vocab or None, not case_sensitive)
    )
