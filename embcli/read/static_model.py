"""Static-embedding models as a container: model2vec's layout and sentence-transformers' own.

A static-embedding model *is* a token table: a sentence's vector is the mean of its tokens' rows
(then normalised, if the model says so). Two layouts exist, both a ``model.safetensors`` beside
a ``tokenizer.json``:

- **model2vec** (``StaticModel.save_pretrained``; the potion family): the table is the tensor
  ``embeddings``; ``config.json`` says ``normalize``, ``max_length`` and ``embedding_dtype``
  (float32, float16 or int8; int8 rows were divided by one global scale that is not stored, so
  cosines are exact and raw lengths are in int8 units). With *vocabulary quantisation* the file
  also holds ``mapping`` and ``weights``, and token i's row is
  ``embeddings[mapping[i]] * weights[i]``: a few thousand shared rows, one length per token.
- **sentence-transformers' StaticEmbedding**: the table is ``embedding.weight``, at the top
  level (sentence-transformers 5 and later) or in ``0_StaticEmbedding/`` (earlier versions).

Which layout a directory holds is *read*, never guessed: ``modules.json`` names a
``StaticEmbedding`` module first (and its folder), or ``config.json`` says
``"model_type": "model2vec"``; the tensor's name then says whose file it is
(:data:`embcli.read.families.STATIC_TABLES`). A model2vec file is read with model2vec's rules
even when sentence-transformers could also load it, because that is the library that wrote it.

The container lists one tensor, the token table with one row per token id, whatever the
storage: a block of rows of a quantised vocabulary is gathered as
``embeddings[mapping[lo:hi]] * weights[lo:hi, None]``, never the whole expanded table at once.
:meth:`StaticContainer.recipe` is what ``info`` shows and what sentence vectors need
(:mod:`embcli.ask.static_sentences`): the library's tokenisation rules, normalisation, dtype.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embcli.errors import EmbcliError
from embcli.read import families
from embcli.read.container import FLOAT_DTYPES, RAW_DTYPES, TensorInfo, stored_rows, to_float32
from embcli.read.facts import ModelFacts
from embcli.read.vocabulary import Vocabulary

if TYPE_CHECKING:
    from embcli.read.byte_source import ByteSource, Notice
    from embcli.read.source import Source

#: safetensors dtype -> the numpy name model2vec's ``embedding_dtype`` uses.
DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
               "I8": "int8"}  # fmt: skip
INTEGER_DTYPES = ("I64", "I32", "I16", "I8", "U8")
MODULES_FILE = "modules.json"
#: Files of a static module's own folder that a build reads besides the weights.
STATIC_SMALL_FILES = ("tokenizer.json", "config.json")


@dataclass(frozen=True)
class StaticLayout:
    """Where a static-embedding model keeps its files, and what ``modules.json`` adds."""

    folder: str  # "" (top level) or the StaticEmbedding module's folder, e.g. "0_StaticEmbedding"
    normalize_module: bool  # a Normalize module follows the table
    other_modules: tuple[str, ...] = ()  # modules after it that embcli does not run (Dense...)

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder else name

    @property
    def weights(self) -> str:
        return self.path("model.safetensors")

    @property
    def tokenizer(self) -> str:
        return self.path("tokenizer.json")


def static_layout(small_file: Callable[[str], Path | None]) -> StaticLayout | None:
    """The static layout a model's small files state, or None for any other model.

    ``small_file`` is a source's :meth:`~embcli.read.source.Source.small_file`.
    """
    modules = _json(small_file(MODULES_FILE))
    if isinstance(modules, list) and modules:
        ordered = sorted(
            (m for m in modules if isinstance(m, dict)), key=lambda m: int(m.get("idx", 0))
        )
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in ordered]
        if not kinds or kinds[0] != families.STATIC_MODULE:
            return None  # a transformer pipeline (Transformer -> Pooling ...)
        folder = str(ordered[0].get("path", "")).strip().strip("/")
        folder = "" if folder in ("", ".") else folder
        rest = tuple(k for k in kinds[1:] if k != families.NORMALIZE_MODULE)
        return StaticLayout(folder, families.NORMALIZE_MODULE in kinds[1:], rest)
    config = _json(small_file("config.json"))
    if isinstance(config, dict) and config.get("model_type") == families.MODEL2VEC_TYPE:
        return StaticLayout("", False)
    return None


def static_folder(modules_json: Path | None) -> str | None:
    """The folder of the StaticEmbedding module a ``modules.json`` names, or None.

    The Hub resolver uses it to fetch that folder's small files with the top-level ones.
    """
    layout = static_layout(lambda name: modules_json if name == MODULES_FILE else None)
    return None if layout is None else layout.folder


def _json(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EmbcliError(f"cannot read {path}: {exc}") from None


class StaticContainer:
    """The token table of a static-embedding model, one row per token id.

    Nothing is read until asked: the safetensors header (two small reads), then ``mapping`` and
    ``weights`` whole (one integer and one float per token) when the table's rows are asked
    for, and the tokenizer when the vocabulary is.
    """

    format = "safetensors"

    def __init__(self, source: Source, layout: StaticLayout) -> None:
        self.source, self.layout = source, layout
        self.label = source.label
        self._stated_truncation: dict[str, Any] | None = None

    # -- what the file holds -------------------------------------------------------------------

    @cached_property
    def _file(self) -> ByteSource:
        return self.source.file(self.layout.weights)

    @cached_property
    def _stored(self) -> dict[str, TensorInfo]:
        """Every tensor of the file, as stored (the table may be a compact one)."""
        from dataclasses import replace

        from embcli.read.safetensors_container import read_header

        infos = read_header(self._file)
        return {name: replace(info, file=self.layout.weights) for name, info in infos.items()}

    @cached_property
    def table_name(self) -> str:
        found = [name for name in families.STATIC_TABLES if name in self._stored]
        if not found:
            names = ", ".join(sorted(self._stored)[:6]) or "none"
            raise EmbcliError(
                f"{self.layout.weights} of {self.label} holds no static table (tensors: {names})",
                "model2vec stores 'embeddings', sentence-transformers 'embedding.weight'",
            )
        return found[0]

    @property
    def library(self) -> str:
        """``model2vec`` or ``static_embedding`` (sentence-transformers), from the table's name."""
        return families.STATIC_TABLES[self.table_name]

    @cached_property
    def _parts(self) -> tuple[TensorInfo, TensorInfo | None, TensorInfo | None]:
        """The stored table, and model2vec's ``mapping`` and ``weights`` when present, checked."""
        where = f"{self.layout.weights} of {self.label}"
        table = self._stored[self.table_name]
        if len(table.shape) != 2 or table.dtype not in (*FLOAT_DTYPES, "I8"):
            raise EmbcliError(
                f"{where}: {table.name!r} is {table.dtype} {list(table.shape)}, not a 2-D table "
                "of floats or int8"
            )
        mapping = weights = None
        if self.library == families.MODEL2VEC_TYPE:
            mapping = self._stored.get(families.MODEL2VEC_MAPPING)
            weights = self._stored.get(families.MODEL2VEC_WEIGHTS)
        if mapping is not None and (len(mapping.shape) != 1 or mapping.dtype not in INTEGER_DTYPES):
            raise EmbcliError(f"{where}: 'mapping' is {mapping.dtype} {list(mapping.shape)}, "
                              "not a list of row numbers")  # fmt: skip
        rows = mapping.shape[0] if mapping is not None else table.shape[0]
        if weights is not None and (weights.shape != (rows,) or weights.dtype not in FLOAT_DTYPES):
            raise EmbcliError(f"{where}: 'weights' is {weights.dtype} {list(weights.shape)}, "
                              f"expected one float per token ({rows:,})")  # fmt: skip
        return table, mapping, weights

    @property
    def rows_count(self) -> int:
        table, mapping, _ = self._parts
        return mapping.shape[0] if mapping is not None else table.shape[0]

    def _array(self, info: TensorInfo) -> np.ndarray:
        """A small tensor (``mapping``, ``weights``) whole, in its stored dtype."""
        raw_dtype, _ = RAW_DTYPES[info.dtype]
        data = self._file.read(info.start, info.end)
        if len(data) != info.nbytes:
            raise EmbcliError(f"{self.layout.weights} of {self.label} is truncated")
        return np.frombuffer(data, dtype=raw_dtype).reshape(info.shape)

    @cached_property
    def _mapping(self) -> np.ndarray | None:
        table, info, _ = self._parts
        if info is None:
            return None
        mapping = self._array(info).astype(np.int64)
        if mapping.size and (mapping.min() < 0 or mapping.max() >= table.shape[0]):
            bad = int(np.flatnonzero((mapping < 0) | (mapping >= table.shape[0]))[0])
            raise EmbcliError(
                f"{self.layout.weights} of {self.label}: mapping[{bad}] = {mapping[bad]} points "
                f"past the {table.shape[0]:,} stored rows"
            )
        return mapping

    @cached_property
    def _weights(self) -> np.ndarray | None:
        _, _, info = self._parts
        if info is None:
            return None
        weights = to_float32(self._array(info), info.dtype).astype(np.float64)
        if not np.isfinite(weights).all():
            raise EmbcliError(
                f"{self.layout.weights} of {self.label}: a token weight is not finite"
            )
        return weights

    # -- the container interface -----------------------------------------------------------------

    def names(self) -> list[str]:
        return [self.table_name]

    def file_of(self, name: str) -> str:
        self._check(name)
        return self.layout.weights

    def info(self, name: str) -> TensorInfo:
        """The token table: one row per token id, stored as the compact table's dtype and bytes."""
        self._check(name)
        table, _, _ = self._parts
        return TensorInfo(name, (self.rows_count, table.shape[1]), table.dtype, table.file,
                          table.start, table.end)  # fmt: skip

    def rows(self, name: str, block_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """Token rows in blocks; a quantised vocabulary's are gathered and scaled per block.

        The products are taken in float64 from float32 values (exact) and rounded once, which
        is what model2vec's float32 ``embeddings[mapping[i]] * weights[i]`` gives.
        """
        self._check(name)
        table, _, _ = self._parts
        mapping, weights = self._mapping, self._weights
        if mapping is None:
            for lo, block in stored_rows(self._file, table, block_rows):
                yield lo, _scaled(block, weights, lo)
            return
        compact = self._compact(table)
        for lo in range(0, mapping.shape[0], block_rows):
            block = to_float32(compact[mapping[lo : lo + block_rows]], table.dtype)
            yield lo, _scaled(block, weights, lo)

    def _compact(self, table: TensorInfo) -> np.ndarray:
        """The stored (compact) rows, raw: memory-mapped when local, else fetched once."""
        raw_dtype, _ = RAW_DTYPES[table.dtype]
        if self._file.path is not None:
            return np.memmap(self._file.path, dtype=raw_dtype, mode="r", offset=table.start,
                             shape=table.shape)  # fmt: skip
        data = b"".join(self._file.stream(table.start, table.end))
        if len(data) != table.nbytes:
            raise EmbcliError(f"{self.layout.weights} of {self.label} is truncated")
        return np.frombuffer(data, dtype=raw_dtype).reshape(table.shape)

    def vocabulary(self) -> Vocabulary:
        """The model's tokenizer: its ids are the table's rows, so it must exist and fit."""
        tok = self._tokenizer
        vocab = tok.get_vocab(with_added_tokens=True)
        size = max(vocab.values()) + 1 if vocab else 0
        rows = self.rows_count
        what = "its mapping" if self._parts[1] is not None else "its table"
        if self.library == families.MODEL2VEC_TYPE and len(vocab) != rows:
            raise EmbcliError(
                f"{self.label}: {what} has {rows:,} rows but {self.layout.tokenizer} has "
                f"{len(vocab):,} tokens; model2vec needs one row per token"
            )
        if size > rows:
            raise EmbcliError(
                f"{self.label}: {self.layout.tokenizer} has {size:,} token ids but {what} "
                f"only {rows:,} rows"
            )
        from embcli.read.tokens import vocabulary_style

        spec = json.loads(tok.to_str())
        pieces = [f"<row {i}>" for i in range(size)]
        for piece, i in vocab.items():
            pieces[i] = piece
        return Vocabulary(pieces, tok, vocabulary_style(spec))

    def facts(self) -> ModelFacts:
        _, dim = self._parts[0].shape
        config = self._config if self.library == families.MODEL2VEC_TYPE else {}
        return ModelFacts(self.library, self.rows_count, dim, (dim,), tied=False,
                          tie_explicit=True, raw=config, text=config)  # fmt: skip

    # -- what sentences need, and what info shows ------------------------------------------------

    @cached_property
    def _tokenizer(self) -> Any:
        path = self.source.small_file(self.layout.tokenizer)
        if path is None:
            raise EmbcliError(
                f"{self.label} has no {self.layout.tokenizer}",
                "a static-embedding model's rows are its tokenizer's tokens: it cannot be read "
                "without it",
            )
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise EmbcliError(f"cannot read {path}: {exc}") from None
        # Kept apart: the build saves the tokenizer with truncation off, but sentence-
        # transformers encodes with the truncation its tokenizer.json states.
        self._stated_truncation = _truncation(tok.truncation)
        return tok

    @cached_property
    def _config(self) -> dict[str, Any]:
        config = _json(self.source.small_file(self.layout.path("config.json")))
        return config if isinstance(config, dict) else {}

    def describe(self) -> dict[str, Any]:
        """What the cache entry keeps of a static model: its recipe, as the ``static`` section."""
        return {"static": self.recipe()}

    def recipe(self) -> dict[str, Any]:
        """How the library that wrote the model turns a sentence into a vector, as data.

        model2vec (``StaticModel.encode``): cut each text to ``max_length * median token
        length`` characters, tokenise without special tokens, truncate to ``max_length``
        tokens, drop the unknown token, average, normalise if ``config.json`` says.
        sentence-transformers (``StaticEmbedding``): tokenise without special tokens with the
        tokenizer's own truncation, average (an empty text is a zero vector), then a
        ``Normalize`` module if ``modules.json`` lists one.
        """
        table, mapping, weights = self._parts
        tok = self._tokenizer
        m2v = self.library == families.MODEL2VEC_TYPE
        base: dict[str, Any] = {
            "library": "model2vec" if m2v else "sentence-transformers",
            "folder": self.layout.folder,
            "embedding_dtype": DTYPE_NAMES.get(table.dtype, table.dtype),
            "vocabulary_quantization": int(table.shape[0]) if mapping is not None else None,
            "token_weights": weights is not None,
            "unsupported_modules": list(self.layout.other_modules),
        }
        if not m2v:
            trunc = self._stated_truncation
            return {**base, "normalize": self.layout.normalize_module,
                    "max_length": int(trunc["max_length"]) if trunc else None,
                    "truncation": trunc, "median_token_length": None,
                    "drop_id": None}  # fmt: skip
        config = self._config
        max_length = config.get("max_length", families.MODEL2VEC_MAX_LENGTH)
        vocab = tok.get_vocab(with_added_tokens=True)
        lengths = [len(piece) for piece, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        return {
            **base,
            "normalize": bool(config.get("normalize", False)),
            "max_length": int(max_length) if isinstance(max_length, int) else None,
            "truncation": None,  # model2vec truncates to max_length tokens itself
            "median_token_length": int(np.median(lengths)) if lengths else 1,
            "drop_id": _unknown_id(tok),
        }

    def _check(self, name: str) -> None:
        if name != self.table_name:
            raise EmbcliError(f"no tensor named {name!r} in {self.label}; its table is "
                              f"{self.table_name!r}")  # fmt: skip


def _scaled(block: np.ndarray, weights: np.ndarray | None, lo: int) -> np.ndarray:
    if weights is None:
        return block
    scale = weights[lo : lo + block.shape[0], None]
    scaled: np.ndarray = (block.astype(np.float64) * scale).astype(np.float32)
    return scaled


def _truncation(trunc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tokenizer's truncation settings as ``enable_truncation`` takes them, or None."""
    if not trunc:
        return None
    keys = ("max_length", "stride", "strategy", "direction")
    return {k: trunc[k] for k in keys if k in trunc}


def _unknown_id(tok: Any) -> int | None:
    """The id model2vec drops from every text (its ``_get_unk_token_id``, read the same way).

    WordPiece, BPE and WordLevel name an unknown *token*; Unigram stores an unknown *id*.
    """
    model = json.loads(tok.to_str()).get("model") or {}
    if "unk_token" in model:
        token = model.get("unk_token")
        return None if token is None else tok.token_to_id(token)
    unk = model.get("unk_id")
    return int(unk) if isinstance(unk, int) else None


# -- the format registry's two functions (embcli.read.formats) ----------------------------------


def detect(source: Source) -> bool:
    """A static-embedding model: its ``modules.json`` (or config) states the layout."""
    return static_layout(source.small_file) is not None


def from_source(source: Source, allow_pickle: bool, notice: Notice | None) -> StaticContainer:
    layout = static_layout(source.small_file)
    assert layout is not None
    return StaticContainer(source, layout)
