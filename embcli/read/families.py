"""What embcli knows about model families, in one place, as data.

Two kinds of knowledge live here:

- **Conventions shared across families**: the config fields that state the vocabulary and the
  width (``vocab_size``/``n_vocab``, ``hidden_size``/``n_embd``/``d_model``...), where multimodal
  configs nest their language part, and the tensor-name suffixes of input tables and output
  heads, ranked. A checkpoint of a family embcli has never heard of is read with these.
- **One record per family** (:class:`Family`, keyed by ``model_type``): what departs from the
  common case. Whether its config class ties the head by default, how it encodes positions (a
  learned table, and under which name; rotary; ALiBi; relative bias), whether it has a
  token-type table, whether ``size`` counts it as a bare encoder, whether the forward pass
  scales the embedding rows (Gemma multiplies them by ``sqrt(hidden_size)``; the table itself is
  stored unscaled), and table or head names of its own.

To teach embcli a family, add or extend its record; the readers (:mod:`embcli.read.facts`,
:mod:`embcli.read.locate`) and ``size`` (:mod:`embcli.ask.sizing`) only consult this module.
Tying defaults were checked against the transformers 5.x config classes.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- config fields, tried in this order -------------------------------------------------------

VOCAB_KEYS = ("vocab_size", "padded_vocab_size", "n_vocab")
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim", "model_dim")
#: A table narrower than the hidden size, projected up after lookup (OPT-350m: 512 vs 1024).
TABLE_WIDTH_KEYS = ("word_embed_proj_dim",)
#: Where multimodal configs keep the language model's own config.
NESTED_TEXT_KEYS = ("text_config", "language_config", "llm_config", "text_model", "thinker_config")
TIE_KEY = "tie_word_embeddings"
DTYPE_KEYS = ("torch_dtype", "dtype")
#: ``position_embedding_type``: BERT-style configs store a learned table only when "absolute".
POSITION_TYPE_KEY = "position_embedding_type"
ROTARY_KEYS = ("rope_theta", "rope_scaling")
ALIBI_KEY = "alibi"  # Falcon's switch between rotary and ALiBi
TOKEN_TYPES_KEY = "type_vocab_size"
#: BART-style configs switch on a ``sqrt(d_model)`` scaling of the embeddings with this flag.
SCALE_FLAG_KEY = "scale_embedding"
EXPERT_COUNT_KEYS = ("num_local_experts", "n_routed_experts", "num_experts")
EXPERTS_PER_TOKEN_KEY = "num_experts_per_tok"

# -- tensor names, most specific convention first ---------------------------------------------

#: Name suffixes of input-embedding tables.
TABLE_SUFFIXES = (
    "shared.weight",  # T5 (encoder/decoder embed_tokens are copies of it)
    "embed_tokens.weight",  # Llama, Mistral, Qwen, Gemma, OPT, Phi-3, BART, Llama 4
    "wte.weight",  # GPT-2, GPT-J, CodeGen, old Phi (transformer.embd.wte)
    "word_embeddings.weight",  # BERT, RoBERTa, Falcon, BLOOM, ChatGLM
    "embed_in.weight",  # GPT-NeoX, Pythia
    "tok_embeddings.weight",  # Meta's original Llama layout, InternLM
    "embeddings.weight",  # Mamba (backbone.embeddings)
    "token_embd.weight",  # GGUF: llama.cpp's name for every architecture
)
#: Name suffixes of output heads (the unembedding matrix).
HEAD_SUFFIXES = (
    "lm_head.weight",  # Llama, Mistral, GPT-2, most *ForCausalLM
    "embed_out.weight",  # GPT-NeoX, Pythia
    "output.weight",  # Meta's original Llama layout, InternLM, GGUF-style names
)
#: Words in a tensor name that mark a non-text tower of a multimodal model.
OTHER_MODALITIES = ("vision", "visual", "image", "audio", "speech", "mm_projector")

# -- static-embedding models: the model is its token table --------------------------------------

#: sentence-transformers' ``modules.json`` names this module (model2vec writes it too); its
#: ``path`` is the folder holding the table and ``tokenizer.json`` ("" or "0_StaticEmbedding").
STATIC_MODULE = "StaticEmbedding"
NORMALIZE_MODULE = "Normalize"
#: model2vec's distillation writes this ``model_type`` (a model2vec config has no vocab size).
MODEL2VEC_TYPE = "model2vec"
STATIC_EMBEDDING_TYPE = "static_embedding"  # ours, for sentence-transformers' StaticEmbedding
#: The table's tensor name says whose layout a static model's ``model.safetensors`` is.
STATIC_TABLES = {"embeddings": MODEL2VEC_TYPE, "embedding.weight": STATIC_EMBEDDING_TYPE}
#: model2vec's vocabulary quantisation: token i's row is ``embeddings[mapping[i]] * weights[i]``.
MODEL2VEC_MAPPING = "mapping"
MODEL2VEC_WEIGHTS = "weights"
#: ``StaticModel``'s ``max_length`` when its config states none.
MODEL2VEC_MAX_LENGTH = 512


@dataclass(frozen=True)
class Family:
    """One family's departures from the common case (the defaults are the common case)."""

    tied: bool = True  # ``tie_word_embeddings`` default of its config class
    positions: str = "unstated"  # "learned", "rotary", "alibi", "relative", or "unstated"
    #: A learned position table: (config field with its number of rows, tensor-name suffix).
    position_table: tuple[str, str] | None = None
    token_types: bool = False  # a token-type (segment) table of ``type_vocab_size`` rows
    encoder: bool = False  # ``size`` counts it as the bare encoder (AutoModel), no LM head
    #: What the forward pass multiplies the looked-up rows by ("sqrt(hidden_size)"), if anything.
    embed_scale: str | None = None
    table_suffixes: tuple[str, ...] = ()  # its own table names, tried before TABLE_SUFFIXES
    head_suffixes: tuple[str, ...] = ()  # its own head names, tried before HEAD_SUFFIXES
    #: A static-embedding model: the table is the whole model (no layers, no output head), and
    #: a sentence's vector is the mean of its tokens' rows.
    static: bool = False


COMMON = Family()

_ROTARY_UNTIED = Family(tied=False, positions="rotary")
_ROTARY = Family(positions="rotary")
_GEMMA = Family(positions="rotary", embed_scale="sqrt(hidden_size)")


def _learned(key: str, suffix: str, token_types: bool = False, encoder: bool = False) -> Family:
    return Family(
        positions="learned",
        position_table=(key, suffix),
        token_types=token_types,
        encoder=encoder,
    )


_BERT_LIKE = _learned(
    "max_position_embeddings", "position_embeddings.weight", token_types=True, encoder=True
)

FAMILIES: dict[str, Family] = {
    # Decoders with rotary positions whose config classes default to an untied head.
    **dict.fromkeys(
        (
            "llama",
            "llama4",
            "llama4_text",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen2_moe",
            "qwen3",
            "qwen3_moe",
            "gpt_neox",
            "phi",
            "phi3",
            "gptj",
            "deepseek_v2",
            "deepseek_v3",
            "olmo",
            "olmo2",
            "internlm2",
            "stablelm",
        ),
        _ROTARY_UNTIED,
    ),
    # ... and those that keep PretrainedConfig's tied default.
    **dict.fromkeys(("starcoder2", "cohere", "falcon"), _ROTARY),
    **dict.fromkeys(("gemma", "gemma2", "gemma3", "gemma3_text"), _GEMMA),
    **dict.fromkeys(
        ("gemma3n", "gemma3n_text", "gemma4", "gemma4_text", "recurrent_gemma", "vaultgemma"),
        Family(embed_scale="sqrt(hidden_size)"),
    ),
    "t5gemma": Family(embed_scale="sqrt(hidden_size)"),
    # State-space models: no positions at all, untied by default.
    **dict.fromkeys(("mamba", "falcon_mamba"), Family(tied=False)),
    **dict.fromkeys(("bloom", "mpt"), Family(positions="alibi")),
    **dict.fromkeys(("t5", "mt5"), Family(positions="relative", encoder=True)),
    **dict.fromkeys(("umt5", "longt5"), Family(positions="relative")),
    "gpt2": _learned("n_positions", "wpe.weight"),
    "gpt_bigcode": _learned("n_positions", "wpe.weight"),
    "gpt_neo": _learned("max_position_embeddings", "wpe.weight"),
    "openai-gpt": _learned("n_positions", "positions_embed.weight"),
    "opt": _learned("max_position_embeddings", "embed_positions.weight"),
    **dict.fromkeys(("bert", "roberta", "xlm-roberta", "electra"), _BERT_LIKE),
    "distilbert": _learned("max_position_embeddings", "position_embeddings.weight", encoder=True),
    **dict.fromkeys(("albert", "mpnet", "deberta", "deberta-v2"), Family(encoder=True)),
    **dict.fromkeys((MODEL2VEC_TYPE, STATIC_EMBEDDING_TYPE), Family(tied=False, static=True)),
}


#: llama.cpp's architecture names (GGUF ``general.architecture``) that differ from the
#: transformers ``model_type`` of the same family; the rest are spelled alike.
GGUF_ARCHITECTURES = {
    "gptneox": "gpt_neox",
    "qwen2moe": "qwen2_moe",
    "qwen3moe": "qwen3_moe",
    "deepseek2": "deepseek_v2",
    "command-r": "cohere",
    "phi2": "phi",
    "starcoder": "gpt_bigcode",
}
#: llama.cpp's name for a learned position table (GPT-2, StarCoder, BERT...), any architecture.
GGUF_POSITION_TABLE = "position_embd.weight"
#: GGUF metadata keys (after ``<architecture>.``) and the config field each stands for.
GGUF_KEYS = {
    "context_length": ("max_position_embeddings", "n_positions"),
    "expert_count": ("num_experts",),
    "expert_used_count": ("num_experts_per_tok",),
    "rope.freq_base": ("rope_theta",),
    "block_count": ("num_hidden_layers",),
}


def gguf_model_type(architecture: str) -> str:
    """The transformers ``model_type`` of a GGUF architecture (``gptneox`` -> ``gpt_neox``)."""
    return GGUF_ARCHITECTURES.get(architecture, architecture)


def family(model_type: str) -> Family:
    """The record of ``model_type``, or the common case for a family without one."""
    return FAMILIES.get(model_type, COMMON)


def table_suffixes(model_type: str) -> tuple[str, ...]:
    """Input-table name suffixes to try for ``model_type``, best first."""
    return family(model_type).table_suffixes + TABLE_SUFFIXES


def head_suffixes(model_type: str) -> tuple[str, ...]:
    """Output-head name suffixes to try for ``model_type``, best first."""
    return family(model_type).head_suffixes + HEAD_SUFFIXES
