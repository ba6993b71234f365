"""``TableMeta``: what a cache entry records about its table, typed and written in one place.

The build fills one from what it read (source, container, facts, tokenizer); ``meta.json`` holds
its :meth:`TableMeta.to_dict` beside the cache's own bookkeeping (format version, file sizes);
``EmbeddingTable.meta`` is the instance read back. Its keys are also what ``info`` reports as
JSON, so a field is added, never renamed.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from embcli.errors import CacheProblem


@dataclass(frozen=True)
class TableMeta:
    """One table's provenance and the facts the questions need about it."""

    model: str  # what to show: an absolute path or a repo id
    kind: str  # "local", "hub", "vectors", "gguf", "ollama" (the source's kind)
    identity: str  # content fingerprint (local) or commit sha (hub)
    revision: str | None  # the --revision asked for
    table: str  # "input", "output" (the head, --table output) or "target" (a decoder's own)
    tensor: str  # the tensor read (a vector file: its format)
    tensor_option: str | None  # --tensor as given
    shape: tuple[int, int]  # (rows, width)
    source_dtype: str  # as stored: "F32", "BF16", "text"...
    checkpoint_format: str  # the container: "safetensors", "pytorch", "GloVe text"...
    checkpoint_file: str  # the file holding the tensor
    model_type: str
    config_vocab_size: int
    config_hidden_size: int
    text_config: str | None  # where a nested language-model config was ("text_config")
    tied: bool  # the output head reuses this table
    tie_explicit: bool  # stated by the config, not a family default
    head_tensor: str | None  # the output head's tensor, when the checkpoint stores one
    head_shape: tuple[int, ...] | None  # known when the head is in the table's file
    head_dtype: str | None
    tokenizer_size: int | None  # ids the tokenizer knows (rows beyond it are padding)
    special_ids: tuple[int, ...]
    tokenizer_style: str  # "byte_level", "metaspace", "plain", "words", "none"
    unk_id: int | None
    zero_rows: int
    created: str  # ISO 8601, UTC
    embcli_version: str
    #: What the forward pass multiplies looked-up rows by (Gemma: sqrt(hidden_size)), if anything.
    embed_scale: float | None = None
    #: A static-embedding model's layout and sentence recipe
    #: (:meth:`embcli.read.static_model.StaticContainer.recipe`); None for any other table.
    static: dict[str, Any] | None = None
    #: Ids the container marks unused (GGUF token_type 5) and byte tokens (6): they join
    #: ``undertrained``'s reference set. Empty for tokenizers, which state no token types.
    unused_ids: tuple[int, ...] = ()
    byte_ids: tuple[int, ...] = ()
    #: A GGUF's summary (``read.gguf_file.GGUFSummary``: quantisation and bytes of the table and
    #: the head, architecture, context length, totals); None for other containers.
    gguf: dict[str, Any] | None = None
    #: Why ``tied`` is what it is ("config", "llama default", "luke never ties...").
    tie_reason: str | None = None
    model_width: int | None = None  # the hidden width the layers work at
    #: A factorised table's projections to the hidden width: {tensor, from, to, params}.
    projections: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # keys of a newer embcli, kept as read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists; ``extra`` keys are written back beside the others."""
        out = asdict(self)
        extra = out.pop("extra")
        out["shape"] = list(self.shape)
        out["head_shape"] = list(self.head_shape) if self.head_shape is not None else None
        out["special_ids"] = list(self.special_ids)
        out["unused_ids"] = list(self.unused_ids)
        out["byte_ids"] = list(self.byte_ids)
        out["projections"] = [dict(p) for p in self.projections]
        return {**extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "meta.json") -> TableMeta:
        """Read back :meth:`to_dict`; a missing or malformed field is a :class:`CacheProblem`."""
        names = {f.name for f in fields(cls)} - {"extra"}
        required = {f.name for f in fields(cls) if f.default is f.default_factory is MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise CacheProblem(f"{where} lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in names}
        try:
            values["shape"] = (int(data["shape"][0]), int(data["shape"][1]))
            head = data.get("head_shape")
            values["head_shape"] = tuple(int(d) for d in head) if head is not None else None
            values["special_ids"] = tuple(int(i) for i in data["special_ids"])
            for key in ("unused_ids", "byte_ids"):
                values[key] = tuple(int(i) for i in data.get(key) or ())
            values["projections"] = tuple(dict(p) for p in data.get("projections") or ())
        except (TypeError, ValueError, IndexError) as exc:
            raise CacheProblem(f"{where} is malformed ({exc})") from None
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**values, extra=extra)
