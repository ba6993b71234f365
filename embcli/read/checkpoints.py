"""The checkpoints of a training run: which ones, in what order, and at which step.

Research suites publish a run's checkpoints as Hub revisions (Pythia: branches ``step0`` ...
``step143000``; OLMo: ``stepN-tokensMB``), and transformers' Trainer writes them as directories
(``checkpoint-500/``, ``checkpoint-1000/``). ``embcli history`` names them as a comma list, or
as a glob matched against the repository's branches and tags (as the Hub API lists them) or
expanded over local directories. A glob that matches many picks about a dozen, log-spaced in
step (:func:`log_spaced`); a list is taken whole. Checkpoints are ordered by the step in their
name when every name has one, else kept as given.

Nothing here reads weights: a :class:`Checkpoint` is a model spec and a revision, opened later
through the cache like any other model.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embcli.errors import EmbcliError, UsageProblem

#: ``step1000``, ``step1000-tokens4B``, ``global_step1000``, ``checkpoint-500``, ``ckpt_12``
STEP = re.compile(r"(?:step|checkpoint|ckpt)[-_]?(\d+)", re.IGNORECASE)
GLOB_CHARS = ("*", "?", "[")
#: What git refuses in a ref name (``git check-ref-format``), and so no branch or tag holds:
#: ``..`` anywhere, a leading ``/`` or ``-``, a part starting with ``.``, backslashes, control
#: characters and spaces. A name read from a listing or typed by a user is held to it.
BAD_REF = re.compile(r"\.\.|^[/-]|//|/$|(^|/)\.|\.lock(/|$)|@\{|[\\\x00-\x20\x7f~^:]")
DEFAULT_COUNT = 12


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: ``spec`` (a local directory or a repo id) at ``revision`` (Hub only)."""

    spec: str
    revision: str | None
    step: int | None

    @property
    def name(self) -> str:
        """What the checkpoint is called in results: the revision, else the directory's name."""
        return self.revision if self.revision is not None else Path(self.spec).name or self.spec


def is_ref_name(name: str) -> bool:
    """Whether ``name`` can be a git branch or tag (a Hub revision), by git's own rules."""
    return bool(name) and BAD_REF.search(name) is None


def _ref(name: str) -> str:
    if not is_ref_name(name) and not is_glob(name):
        raise UsageProblem(f"--revisions: {name[:80]!r} is not a branch or tag name")
    return name


def step_of(name: str) -> int | None:
    """The training step a checkpoint's name states, or None (``main``, ``final``)."""
    found = STEP.findall(name)
    return int(found[-1]) if found else None


def is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


def ordered(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """By step when every checkpoint has one (a stable sort), else as given; repeats dropped."""
    unique = list(dict.fromkeys(checkpoints))
    if unique and all(c.step is not None for c in unique):
        return sorted(unique, key=lambda c: c.step)  # type: ignore[arg-type, return-value]
    return unique


def log_spaced(checkpoints: Sequence[Checkpoint], count: int = DEFAULT_COUNT) -> list[Checkpoint]:
    """About ``count`` of ``checkpoints`` (ordered), spread evenly in log(step).

    The first and the last are always kept (step 0, the random start, included); in between,
    for each of ``count`` targets spaced geometrically between the smallest positive step and
    the largest, the checkpoint nearest it in log(step). Targets that land on one checkpoint
    give it once, so a run with few early checkpoints yields a few fewer. Without steps the
    choice is evenly spaced in position.
    """
    items = list(checkpoints)
    if len(items) <= count:
        return items
    steps = [c.step for c in items]
    if any(s is None for s in steps):
        picks = {round(i * (len(items) - 1) / (count - 1)) for i in range(count)}
        return [items[i] for i in sorted(picks)]
    positive = [i for i, s in enumerate(steps) if s and s > 0]
    chosen = {0, len(items) - 1}
    if positive:
        lo, hi = math.log(steps[positive[0]]), math.log(steps[positive[-1]])  # type: ignore[arg-type]
        targets = count - (1 if steps[0] == 0 else 0)
        for t in range(targets):
            goal = lo + (hi - lo) * t / max(1, targets - 1)
            chosen.add(min(positive, key=lambda i: abs(math.log(steps[i]) - goal)))  # type: ignore[arg-type]
    return [items[i] for i in sorted(chosen)]


def choose(
    checkpoints: Sequence[Checkpoint], *, from_glob: bool, every: bool, count: int
) -> list[Checkpoint]:
    """The checkpoints a run uses: ordered; from a glob, :func:`log_spaced` unless ``every``."""
    items = ordered(checkpoints)
    return items if every or not from_glob else log_spaced(items, count)


def hub_checkpoints(
    repo_id: str, revisions: str, list_refs: Callable[[str], list[str]]
) -> tuple[list[Checkpoint], bool]:
    """``--revisions`` of a Hub repo: a comma list (taken as written), or a glob matched against
    the repo's branches and tags (``list_refs(repo_id)``). Returns them and whether a glob
    chose them. A glob that matches nothing is an error naming a few refs that exist."""
    wanted = [_ref(r.strip()) for r in revisions.split(",") if r.strip()]
    if not wanted:
        raise UsageProblem("--revisions is empty: give a comma list or a glob such as 'step*'")
    patterns = [r for r in wanted if is_glob(r)]
    if not patterns:
        return [Checkpoint(repo_id, r, step_of(r)) for r in wanted], False
    refs = [r for r in list_refs(repo_id) if is_ref_name(r)]  # a server's odd names left out
    found: list[str] = []
    for item in wanted:
        if is_glob(item):
            matched = [r for r in refs if fnmatch.fnmatchcase(r, item)]
            if not matched:
                shown = ", ".join(sorted(refs)[:6]) + (", ..." if len(refs) > 6 else "")
                raise EmbcliError(
                    f"no branch or tag of {repo_id} matches {item!r}",
                    f"it has {len(refs)}: {shown}" if refs else "it lists none",
                )
            found += matched
        else:
            found.append(item)
    return [Checkpoint(repo_id, r, step_of(r)) for r in found], True


def local_checkpoints(specs: Sequence[str]) -> tuple[list[Checkpoint], bool]:
    """``-m`` given once or more: model directories (or repo ids at their main revision), a glob
    among them expanded over the directories it matches. Returns them and whether a glob
    chose them."""
    found: list[Checkpoint] = []
    from_glob = False
    for spec in specs:
        if not is_glob(spec):
            found.append(Checkpoint(spec, None, step_of(Path(spec).name)))
            continue
        from_glob = True
        matched = sorted(p for p in glob.glob(str(Path(spec).expanduser())) if Path(p).is_dir())
        if not matched:
            raise EmbcliError(f"no checkpoint directory matches {spec!r}")
        found += [Checkpoint(p, None, step_of(Path(p).name)) for p in matched]
    return found, from_glob
