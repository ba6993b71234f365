"""Standard benchmarks: analogy accuracy and word-similarity correlation.

The method follows gensim 4.4's ``KeyedVectors.evaluate_word_analogies`` and
``evaluate_word_pairs`` so that figures are comparable with published ones:

- only the first ``restrict_vocab`` rows take part (300,000 by default; files list words by
  frequency), and matching is case-insensitive: words are upper-cased and the first row of each
  upper-cased form stands for it;
- a question ``a b c d`` (a is to b as c is to d) is answered by 3CosAdd over unit vectors,
  ``unit(b - a + c)``, its inputs excluded; as in gensim, a top candidate that is a case variant
  of an input is passed over (within the top five);
- a question with any word out of that vocabulary is skipped and counted; accuracy is over the
  answered questions.

On a language model's table, words are resolved as the query commands do (a word-initial single
token), every word-like row is a candidate, and the report states the coverage.

Speed: targets of all questions are formed at once, then the vocabulary is scanned in chunks
that stay in cache: one matrix product per (question block, vocabulary chunk) and a running
arg-max, instead of materialising and sorting a 300,000-wide score row per question.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embcli.ask.words import resolve
from embcli.errors import EmbcliError, UnresolvedWord, UsageProblem
from embcli.store.table import EmbeddingTable

Q_BLOCK = 1024
V_CHUNK = 4096
COSMUL_EPS = 1e-3
Progress = Callable[[int, int, str], None]


@dataclass
class Section:
    name: str
    correct: int = 0
    incorrect: int = 0
    skipped: int = 0

    @property
    def answered(self) -> int:
        return self.correct + self.incorrect

    def as_dict(self) -> dict[str, Any]:
        acc = self.correct / self.answered if self.answered else None
        return {"section": self.name, "correct": self.correct, "incorrect": self.incorrect,
                "answered": self.answered, "skipped": self.skipped, "accuracy": acc}  # fmt: skip


@dataclass
class Vocabulary:
    """How benchmark words map to rows, and which rows may be answers."""

    lookup: Callable[[str], int | None]
    candidates: np.ndarray  # bool mask over rows
    key: Callable[[int], str]  # a row's comparable form (upper-cased word)
    label: str = ""
    notes: list[str] = field(default_factory=list)


def vocabulary(
    table: EmbeddingTable, restrict_vocab: int | None, case_insensitive: bool
) -> Vocabulary:
    rows = table.shape[0]
    if table.style == "words":
        limit = min(rows, restrict_vocab or rows)
        fold = str.upper if case_insensitive else str
        # Every word is wanted: one read of all the strings (the TokenList's bulk path), not
        # 400,000 decodes of one row each.
        words = table.tokens[:limit]
        ok = {fold(w): i for i, w in zip(range(limit - 1, -1, -1), reversed(words), strict=True)}
        mask = np.zeros(rows, dtype=bool)
        mask[:limit] = True
        return Vocabulary(lambda w: ok.get(fold(w)), mask,
                          lambda i: fold(table.tokens[i]), f"first {limit:,} words")  # fmt: skip

    def lookup(word: str) -> int | None:
        try:
            return resolve(table, word).ids[0]
        except UnresolvedWord:
            return None

    mask = np.asarray(table.wordlike, dtype=bool).copy()
    return Vocabulary(lookup, mask, lambda i: table.tokens[i].strip().upper(),
                      f"{int(mask.sum()):,} word-initial tokens",
                      ["words resolved as single word-initial tokens"])  # fmt: skip


def read_analogies(path: Path) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """Sections of ``: name`` headers and ``a b c d`` lines (line numbers kept)."""
    sections: list[tuple[str, list[tuple[int, list[str]]]]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EmbcliError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if line.startswith(":"):
            sections.append((line.lstrip(":").strip(), []))
        elif line.strip():
            words = line.split()
            if not sections:
                raise EmbcliError(f"{path.name} line {n}: a question before any ': section' line")
            if len(words) == 4:
                sections[-1][1].append((n, words))
    return sections


def evaluate_analogies(
    table: EmbeddingTable,
    path: Path,
    restrict_vocab: int | None = 300_000,
    method: str = "3cosadd",
    case_insensitive: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    vocab = vocabulary(table, restrict_vocab, case_insensitive)
    sections = read_analogies(path)
    stats: list[Section] = []
    questions: list[tuple[int, int, int, int, int]] = []  # section, a, b, c, expected
    for s_idx, (name, items) in enumerate(sections):
        sec = Section(name)
        stats.append(sec)
        for _, words in items:
            ids = [vocab.lookup(w) for w in words]
            if any(i is None for i in ids):
                sec.skipped += 1
                continue
            questions.append((s_idx, *ids))  # type: ignore[arg-type]
    q = np.array(questions, dtype=np.int64).reshape(-1, 5)
    predicted = answer(table.unit, q[:, 1], q[:, 2], q[:, 3], vocab, method, progress)
    for (s_idx, *_, expected), guess in zip(q.tolist(), predicted.tolist(), strict=True):
        if guess >= 0 and vocab.key(guess) == vocab.key(expected):
            stats[s_idx].correct += 1
        else:
            stats[s_idx].incorrect += 1
    total = Section("total", sum(s.correct for s in stats), sum(s.incorrect for s in stats),
                    sum(s.skipped for s in stats))  # fmt: skip
    return {
        "model": table.label, "benchmark": str(path), "method": method,
        "restrict_vocab": restrict_vocab, "vocabulary": vocab.label,
        "case_insensitive": case_insensitive, "notes": vocab.notes,
        "sections": [s.as_dict() for s in stats], "total": total.as_dict(),
        "coverage": total.answered / max(1, total.answered + total.skipped),
    }  # fmt: skip


def answer(
    unit: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    vocab: Vocabulary,
    method: str = "3cosadd",
    progress: Progress | None = None,
) -> np.ndarray:
    """Best candidate row for each question ``a : b :: c : ?`` (-1 if none), batched."""
    n = len(a)
    out = np.full(n, -1, dtype=np.int64)
    cand_rows = np.flatnonzero(vocab.candidates)
    if n == 0 or len(cand_rows) == 0:
        return out
    hi_row = int(cand_rows[-1]) + 1
    contiguous = len(cand_rows) == hi_row  # the usual case: the first N rows
    va, vb, vc = (np.asarray(unit[x], dtype=np.float32) for x in (a, b, c))
    target = gensim_target(va, vb, vc)
    inputs = np.stack([a, b, c], axis=1)
    for lo in range(0, n, Q_BLOCK):
        sl = slice(lo, min(n, lo + Q_BLOCK))
        best = np.full(sl.stop - lo, -np.inf, dtype=np.float32)
        arg = np.full(sl.stop - lo, -1, dtype=np.int64)
        for vlo in range(0, hi_row, V_CHUNK):
            vhi = min(hi_row, vlo + V_CHUNK)
            chunk = np.asarray(unit[vlo:vhi])
            if method == "3cosmul":
                scores = _cosmul(chunk, va[sl], vb[sl], vc[sl])
            else:
                scores = target[sl] @ chunk.T
            if not contiguous:
                scores[:, ~vocab.candidates[vlo:vhi]] = -np.inf
            rows, cols = np.nonzero((inputs[sl] >= vlo) & (inputs[sl] < vhi))
            scores[rows, inputs[sl][rows, cols] - vlo] = -np.inf
            idx = scores.argmax(axis=1)
            val = scores[np.arange(len(idx)), idx]
            better = val > best
            best[better], arg[better] = val[better], idx[better] + vlo
        out[sl] = arg
        if progress:
            progress(sl.stop, n, "questions")
    # gensim passes over a case variant of an input among its top five: redo those few exactly.
    for i in np.flatnonzero(out >= 0):
        keys = {vocab.key(int(x)) for x in inputs[i]}
        if vocab.key(int(out[i])) in keys:
            out[i] = _answer_one(unit, inputs[i], target[i], va[i], vb[i], vc[i], vocab, method)
    return out


def gensim_target(va: np.ndarray, vb: np.ndarray, vc: np.ndarray) -> np.ndarray:
    """``unit(mean(b, c, -a))`` in float32, as gensim's ``most_similar`` forms it."""
    mean = np.stack([vb, vc, -va]).mean(axis=0, dtype=np.float32)
    norm = np.sqrt(np.sum(mean * mean, axis=1, dtype=np.float32))[:, None]
    target: np.ndarray = (mean / np.where(norm > 0, norm, 1)).astype(np.float32)
    return target


def _cosmul(chunk: np.ndarray, va: np.ndarray, vb: np.ndarray, vc: np.ndarray) -> np.ndarray:
    """3CosMul for ``b - a + c``: the positive terms are b and c, the negative a."""
    sa, sb, sc = ((x @ chunk.T + 1.0) / 2.0 for x in (va, vb, vc))
    scores: np.ndarray = (sb * sc / (sa + COSMUL_EPS)).astype(np.float32)
    return scores


def _answer_one(
    unit: np.ndarray,
    inputs: np.ndarray,
    target: np.ndarray,
    va: np.ndarray,
    vb: np.ndarray,
    vc: np.ndarray,
    vocab: Vocabulary,
    method: str,
) -> int:
    rows = np.flatnonzero(vocab.candidates)
    chunk = np.asarray(unit[rows])
    scores = (
        _cosmul(chunk, va[None], vb[None], vc[None])[0] if method == "3cosmul" else (chunk @ target)
    )
    order = np.argsort(-scores, kind="stable")
    ignore = {vocab.key(int(x)) for x in inputs}
    skip = set(inputs.tolist())
    top = [int(rows[j]) for j in order if int(rows[j]) not in skip][:5]
    for r in top:
        if vocab.key(r) not in ignore:
            return r
    return top[-1] if top else -1


def evaluate_pairs(
    table: EmbeddingTable,
    path: Path,
    restrict_vocab: int | None = 300_000,
    case_insensitive: bool = True,
) -> dict[str, Any]:
    """Spearman and Pearson correlation of cosine similarity with human scores."""
    from scipy import stats

    vocab = vocabulary(table, restrict_vocab, case_insensitive)
    gold: list[float] = []
    model: list[float] = []
    oov = skipped = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EmbcliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise EmbcliError(f"cannot read {path}: not UTF-8 text (byte {exc.start:,})") from None
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:  # gensim skips lines that are not word<TAB>word<TAB>score: so do
            skipped += 1  # we, and say how many
            continue
        try:
            score = float(parts[2])
        except ValueError:
            skipped += 1
            continue
        ia, ib = vocab.lookup(parts[0]), vocab.lookup(parts[1])
        if ia is None or ib is None:
            oov += 1
            continue
        if not math.isfinite(score):
            raise UsageProblem(f"{path.name} line {n}: the score {parts[2]!r} is not a number")
        gold.append(score)
        model.append(float(np.dot(np.asarray(table.unit[ia], np.float64),
                                  np.asarray(table.unit[ib], np.float64))))  # fmt: skip
    if len(gold) < 3:
        raise EmbcliError(f"{path.name}: fewer than 3 pairs are in the vocabulary")
    notes = list(vocab.notes)
    if skipped:
        notes.append(f"{skipped:,} line{'s' if skipped > 1 else ''} of {path.name} "
                     "not 'word<TAB>word<TAB>score', skipped (as gensim does)")  # fmt: skip
    spearman = stats.spearmanr(gold, model)
    pearson = stats.pearsonr(gold, model)
    return {
        "model": table.label, "benchmark": str(path), "pairs": len(gold), "oov_pairs": oov,
        "oov_ratio": oov / (len(gold) + oov), "restrict_vocab": restrict_vocab,
        "vocabulary": vocab.label, "notes": notes, "skipped_lines": skipped,
        "spearman": float(spearman.statistic), "spearman_p": float(spearman.pvalue),
        "pearson": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
    }  # fmt: skip
