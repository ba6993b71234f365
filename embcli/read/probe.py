"""What a checkpoint holds besides its input table, from its config and headers alone.

``--table output`` asks whether the head is a table of its own (read like the input table) or the
input table itself; ``positions`` asks for the learned position table's name. Neither reads any
weights: only the config and the header of the file holding each candidate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embcli.errors import EmbcliError
from embcli.read.facts import ModelFacts, config_facts
from embcli.read.families import GGUF_POSITION_TABLE
from embcli.read.locate import locate_head
from embcli.read.sources import Source, VectorFile, open_container, resolve
from embcli.read.static_model import StaticContainer

if TYPE_CHECKING:
    from embcli.read.byte_source import Notice


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
    head = locate_head(
        container.names(),
        lambda n: container.info(n).shape,
        facts.vocab_size,
        facts.hidden_candidates,
        facts.model_type,
    )
    return head, facts.tied


def find_position_tensor(
    model: str, revision: str | None = None, allow_pickle: bool = False
) -> tuple[ModelFacts, str | None]:
    """The model's facts and the checkpoint name of its learned position table.

    The name is None when the config says positions are not stored (rotary, ALiBi, relative
    bias); the caller words why. Only the checkpoint's tensor names are read.
    """
    source = resolve(model, revision)
    if isinstance(source, VectorFile):
        raise EmbcliError(f"{model} is a word-vector file: it has no position table")
    container = open_container(source, allow_pickle=allow_pickle)  # reads nothing yet
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
