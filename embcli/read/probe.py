"""What a checkpoint holds besides its input table, from its config and headers alone.

``--table output`` asks whether the head is a table of its own (read like the input table) or the
input table itself; ``--table target`` asks for the decoder's own table (FSMT's target
vocabulary); ``positions`` asks for the learned position table's name. None of them reads more
than the config and the header of the file holding each candidate, except where the config
says "tied" and the checkpoint stores a head anyway: then the first rows of both decide, as
transformers decides (it ties two stored tensors only when their values are equal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from embcli.errors import EmbcliError, UsageProblem
from embcli.read.container import Container
from embcli.read.facts import ModelFacts, config_facts
from embcli.read.families import GGUF_POSITION_TABLE
from embcli.read.formats import open_container
from embcli.read.locate import locate_embedding, locate_head, locate_target
from embcli.read.ref import ModelRef
from embcli.read.sources import Source, VectorFile, resolve
from embcli.read.static_model import StaticContainer

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice

#: Rows compared to tell a stored copy of the table from a head of its own.
SAMPLE_ROWS = 16


def head_of(container: Container, facts: ModelFacts, table: str | None = None) -> tuple[
    str | None, bool
]:  # fmt: skip
    """``(output-head tensor name or None, tied)`` for a model whose input table is ``table``.

    Encoder-decoders with a decoder table of their own (FSMT, T5Gemma) have that table as the
    head. A model whose config ties but whose checkpoint stores a head with other values is
    untied, as transformers loads it (T5 v1.1 and Flan-T5 store ``lm_head.weight``).
    """
    names = container.names()

    def shape(n: str) -> tuple[int, ...]:
        return container.info(n).shape

    if facts.family.target:
        target = facts.target_shape
        if target is None:
            return None, False
        return locate_target(names, shape, *target, facts.types), False
    head = locate_head(names, shape, facts.head_rows_stored, (facts.head_shape[1],), facts.types)
    if not facts.tied or head is None:
        return head, facts.tied
    if table is None:
        table = locate_embedding(names, shape, facts.table_rows, facts.hidden_candidates,
                                 model_type=facts.types)  # fmt: skip
    return (head, False) if separate(container, table, head) else (None, True)


def separate(container: Container, table: str, head: str) -> bool:
    """True when ``head`` is a tensor of its own: other bytes, and other values in its first
    rows (a PyTorch file may store one storage under both names)."""
    a, b = container.info(table), container.info(head)
    if (a.file, a.start, a.end) == (b.file, b.start, b.end):
        return False
    if a.shape != b.shape:
        return True
    first_a = next(container.rows(table, SAMPLE_ROWS))[1]
    first_b = next(container.rows(head, SAMPLE_ROWS))[1]
    return not np.array_equal(first_a, first_b)


def probe_head(
    source: Source, allow_pickle: bool = False, notice: Notice | None = None
) -> tuple[str | None, bool]:
    """``(output-head tensor name or None, tied)``."""
    if isinstance(source, VectorFile):
        raise EmbcliError(f"{source.label} is a word-vector file: it has no output head")
    container = open_container(source, allow_pickle=allow_pickle, notice=notice)
    facts = container.facts() or config_facts(source)
    if facts.family.static:
        raise EmbcliError(
            f"{source.label} is a static-embedding model ({facts.model_type}): it has no "
            "output head",
            "its one table is the input table: use --table input",
        )
    return head_of(container, facts)


def probe_target(source: Source, allow_pickle: bool = False, notice: Notice | None = None) -> str:
    """The checkpoint name of the decoder's own input table (``--table target``)."""
    if isinstance(source, VectorFile):
        raise UsageProblem(f"{source.label} is a word-vector file: it has no target table")
    container = open_container(source, allow_pickle=allow_pickle, notice=notice)
    facts = container.facts() or config_facts(source)
    shape = facts.target_shape
    if shape is None:
        raise UsageProblem(
            f"{source.label} ({facts.model_type}) has no target table: only encoder-decoders "
            "whose decoder has a table of its own (FSMT, T5Gemma) do"
        )
    name = locate_target(container.names(), lambda n: container.info(n).shape, *shape,
                         facts.types)  # fmt: skip
    if name is None:
        raise EmbcliError(
            f"{source.label}: no decoder table of {shape[0]:,} x {shape[1]:,} in the checkpoint"
        )
    return name


def find_position_tensor(ref: ModelRef) -> tuple[ModelFacts, str | None]:
    """The model's facts and the checkpoint name of its learned position table.

    The name is None when the config says positions are not stored (rotary, ALiBi, relative
    bias); the caller words why. Only the checkpoint's tensor names are read.
    """
    source, model = resolve(ref), ref.source
    if isinstance(source, VectorFile):
        raise EmbcliError(f"{model} is a word-vector file: it has no position table")
    container = open_container(source, allow_pickle=ref.allow_pickle)  # reads nothing yet
    if isinstance(container, StaticContainer):
        raise EmbcliError(f"{model} is a static-embedding model: it has no position table")
    facts = container.facts() or config_facts(source)  # a GGUF states its own
    spec = facts.position_table()
    if spec is None:
        return facts, None
    suffix = GGUF_POSITION_TABLE if container.format == "gguf" else spec[1]
    names = [n for n in container.names() if n == suffix or n.endswith("." + suffix)]
    if not names:
        raise EmbcliError(f"no tensor ending in {suffix} in {model}")
    return facts, sorted(names, key=len)[0]
