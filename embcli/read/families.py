"""What embcli knows about model families, in one place, as data.

Two kinds of knowledge live here:

- **Conventions shared across families**: the config fields that state the vocabulary and the
  width (``vocab_size``/``n_vocab``/``src_vocab_size``, ``hidden_size``/``n_embd``/``d_model``/
  ``emb_dim``...), where composite configs nest their language part (``text_config``,
  ``encoder``...), and the tensor-name suffixes of input tables and output heads, ranked. A
  checkpoint of a family embcli has never heard of is read with these.
- **One record per family** (:class:`Family`, keyed by ``model_type``): what departs from the
  common case. The table's own width field when it is not the hidden width (ALBERT's
  ``embedding_size``, then a projection up), rows beyond the vocabulary (Mllama's 8 image
  tokens), an output head of another shape (Reformer's is twice as wide), whether and by which
  config tying happens, the learned position table (rows field, name, BART's offset of 2), a
  decoder with a vocabulary of its own (FSMT's target table), what the forward pass multiplies
  looked-up rows by (Gemma's ``sqrt(hidden_size)``), and whether the forward pass honours the
  attention mask (FNet mixes padding in).

Tying follows transformers 5.x: the model that owns the head ties it when *its* config's
``tie_word_embeddings`` says so (the top-level config, or the language model's own for audio
wrappers whose language model is a submodel), and only if its class can tie at all
(``_tied_weights_keys``); a config that does not state the flag gets its config class's default
(:data:`UNTIED_BY_DEFAULT`). ``tests/read/test_zoo.py`` checks every record against transformers on
a tiny checkpoint of each architecture; ``tests/read/test_families.py`` checks defaults on the meta
device.

To teach embcli a family, add or extend its record; the readers (:mod:`embcli.read.facts`,
:mod:`embcli.read.locate`, :mod:`embcli.read.probe`), ``size`` (:mod:`embcli.ask.sizing`) and
``context`` (:mod:`embcli.run`) only consult this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

# -- config fields, tried in this order -------------------------------------------------------

VOCAB_KEYS = ("vocab_size", "padded_vocab_size", "n_vocab", "src_vocab_size")
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim", "model_dim", "emb_dim")
#: Fields of a table narrower (or wider) than the hidden width, projected after lookup (OPT-350m
#: 512 vs 1024, ALBERT's ``embedding_size``); a family's own field is tried first.
TABLE_WIDTH_KEYS = ("word_embed_proj_dim", "embedding_size", "input_embedding_size")
#: Where composite configs keep the part that owns the input table, tried in this order when
#: the top level states no vocabulary or no width.
NESTED_TEXT_KEYS = (
    "text_config",
    "language_config",
    "llm_config",
    "text_model",
    "thinker_config",
    "encoder",
    "encoder_config",
)
TIE_KEY = "tie_word_embeddings"
DTYPE_KEYS = ("torch_dtype", "dtype")
#: ``position_embedding_type``: BERT-style configs store a learned table only when "absolute".
POSITION_TYPE_KEY = "position_embedding_type"
ROTARY_KEYS = ("rope_theta", "rope_scaling", "rope_parameters")
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
    "tok_embeddings.weight",  # Meta's original Llama layout, InternLM, ModernBERT
    "embeddings.weight",  # Mamba (backbone.embeddings), XLM (transformer.embeddings)
    "word_embedding.weight",  # XLNet
    "tokens_embed.weight",  # OpenAI GPT
    "token_embd.weight",  # GGUF: llama.cpp's name for every architecture
)
#: Name suffixes of output heads (the unembedding matrix).
HEAD_SUFFIXES = (
    "lm_head.weight",  # Llama, Mistral, GPT-2, most *ForCausalLM
    "embed_out.weight",  # GPT-NeoX, Pythia
    "output.weight",  # Meta's original Llama layout, InternLM, GGUF-style names, GIT
    "lm_head.decoder.weight",  # RoBERTa-style masked-LM heads (stored only when untied)
    "cls.predictions.decoder.weight",  # BERT-style masked-LM heads
    "predictions.decoder.weight",  # ALBERT
    "generator_lm_head.weight",  # ELECTRA's generator
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

#: A size from config fields: a number, a field name, or a tuple of them multiplied.
Term = Union[int, str, tuple[Union[int, str], ...]]  # noqa: UP007 (a runtime alias on 3.10)


def evaluate(terms: tuple[Term, ...], config: Mapping[str, Any]) -> int | None:
    """The sum of ``terms`` read from ``config``; None when a field is missing."""
    total = 0
    for term in terms:
        product = 1
        for factor in term if isinstance(term, tuple) else (term,):
            value = factor if isinstance(factor, int) else config.get(factor)
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            product *= value
        total += product
    return total


@dataclass(frozen=True)
class Projection:
    """A linear map from the table's width to the hidden width (factorised embeddings)."""

    suffix: str  # tensor-name suffix of its weight, without ".weight"
    inputs: int = 1  # MobileBERT concatenates 3 neighbouring rows before projecting
    inputs_flag: str | None = None  # config switch of that concatenation ("trigram_input")
    bias: bool = True


@dataclass(frozen=True)
class Family:
    """One family's departures from the common case (the defaults are the common case)."""

    #: Which config's ``tie_word_embeddings`` decides: "top" (the model's own config), "text"
    #: (the language model is a submodel with its own config: audio wrappers), or "never" (the
    #: class cannot tie its head to the input table: its ``_tied_weights_keys`` tie nothing, or
    #: tie the head to another table, as encoder-decoders with two vocabularies do).
    tie_owner: str = "top"
    #: The config class forces the flag (T5 always ties; BLT never does), whatever is stated.
    tie_forced: bool | None = None
    #: The config class forwards ``text_config``'s flag when its own is False (LLaVA and the
    #: Qwen2-VL family read configs saved before transformers 5 this way).
    tie_from_text: bool = False
    positions: str = "unstated"  # "learned", "rotary", "alibi", "relative", "sinusoidal"
    #: A learned position table: (config field with its number of rows, tensor-name suffix).
    position_table: tuple[str, str] | None = None
    position_offset: int = 0  # BART-style tables hold 2 rows more than the field says
    position_width: str | None = None  # its width's field when not the hidden width
    position_count: int = 1  # an encoder and a decoder table of that shape each
    position_switch: str | None = None  # a config flag that, when False, drops the table
    token_types: bool = False  # a token-type (segment) table of ``type_vocab_size`` rows
    encoder: bool = False  # ``size`` counts it as the bare encoder (AutoModel), no LM head
    #: What the forward pass multiplies the looked-up rows by: "sqrt(hidden_size)", or a
    #: config field holding the factor (MiniCPM3's "scale_emb"); None: nothing.
    embed_scale: str | None = None
    table_suffixes: tuple[str, ...] = ()  # its own table names, tried before TABLE_SUFFIXES
    head_suffixes: tuple[str, ...] = ()  # its own head names, tried before HEAD_SUFFIXES
    #: Where vocabulary and width live when not at the top level ("encoder_config").
    config_path: str = ""
    table_width: str | None = None  # the table's width field when not the hidden width
    extra_rows: tuple[Term, ...] = ()  # rows beyond the vocabulary field
    head_rows: str | None = None  # the head's rows field when not the vocabulary
    head_width: tuple[Term, ...] = ()  # the head's width when not the table's
    projection: tuple[Projection, ...] = ()
    #: The decoder has an input table of its own (another vocabulary, or another tensor), and
    #: the output head is tied to it: FSMT, T5Gemma, EncoderDecoderModel. ``--table target``.
    target: bool = False
    target_path: str = ""  # where the decoder's vocabulary and width live ("decoder")
    target_vocab: str | None = None  # the decoder's own vocabulary field ("tgt_vocab_size")
    #: False: the forward pass mixes padded positions in (padding changes the real tokens'
    #: vectors), so ``context`` runs one sentence at a time.
    honours_mask: bool = True
    #: False: the layers hold a latent array rather than a vector per token (Perceiver), so
    #: ``context`` has no word to follow.
    token_states: bool = True
    #: A static-embedding model: the table is the whole model (no layers, no output head), and
    #: a sentence's vector is the mean of its tokens' rows.
    static: bool = False
    notes: tuple[str, ...] = field(default=(), compare=False)  # why, where not obvious


COMMON = Family()

_ROTARY = Family(positions="rotary")
_GEMMA = Family(positions="rotary", embed_scale="sqrt(hidden_size)")
_NEVER = Family(tie_owner="never")


def _learned(key: str, suffix: str, **more: Any) -> Family:
    return Family(positions="learned", position_table=(key, suffix), **more)


_BERT_LIKE = _learned(
    "max_position_embeddings", "position_embeddings.weight", token_types=True, encoder=True
)
_BART_LIKE = _learned(
    "max_position_embeddings",
    "encoder.embed_positions.weight",
    position_offset=2,
    position_count=2,
)
_FACTORISED = dict(table_width="embedding_size", position_width="embedding_size")
_PROJECT = (Projection("embeddings_project"),)

#: Model types whose config class does not tie the head unless told to (its
#: ``tie_word_embeddings`` defaults to False, or it has none: transformers then reads False).
#: Generated from transformers 5.25's config classes; the zoo test keeps it true.
# fmt: off
UNTIED_BY_DEFAULT = frozenset((
    "afmoe", "apertus", "apertus1p5_text", "arcee", "aria_text", "audioflamingo3", "axk1", "axk2",
    "bailing_hybrid", "bamba", "beam", "bitnet", "blt", "codegen", "cwm", "dbrx", "deepseek_v2",
    "deepseek_v3", "deepseek_v32", "deepseek_v4", "diffllama", "doge", "dory", "dots1",
    "dots3_note", "dots3_note_text", "emu3", "encoder-decoder", "ergo", "esmc", "eurobert",
    "exaone", "exaone4", "exaone_moe", "falcon_h1", "flex_olmo", "flint", "fsmt", "fuyu", "git",
    "glm", "glm4", "glm4_moe", "glm4_moe_lite", "glm_moe_dsa", "gpt_neox", "gpt_oss", "gptj",
    "granite", "granitemoe", "granitemoe_swa", "granitemoehybrid", "granitemoeshared", "helium",
    "hrm_text", "hunyuan_v1_dense", "hunyuan_v1_moe", "hy_v3", "hy_v4", "hyperclovax",
    "inkling2_loop_text", "inkling2_text", "inkling_text", "internlm2", "internlm3", "iquestcoder",
    "jais2", "jamba", "kimi_linear", "kolibri1", "kolibri1_1", "laguna", "llama", "llama4",
    "llama4_text", "longcat_flash", "mamba2", "mellum", "mimo_v2_flash", "minicpm5_moe", "minimax",
    "minimax_m2", "minimax_m3_vl_text", "ministral", "ministral3", "mistral", "mixtral", "mllama",
    "modernvbert", "moshi", "musicflamingo", "musicgen", "musicgen_melody", "nanochat",
    "nemo_speechlm", "nemotron", "nemotron_h", "olmo", "olmo2", "olmo3", "olmo_hybrid", "olmoe",
    "omniasr", "perceiver", "persimmon", "phi", "phi3", "phi4_multimodal", "phimoe", "qwen2",
    "qwen2_audio", "qwen2_moe", "qwen3", "qwen3_5", "qwen3_5_moe", "qwen3_5_moe_text",
    "qwen3_5_text", "qwen3_moe", "qwen3_next", "qwen4_exp", "qwen4_exp_text", "reformer", "rembert",
    "rwkv", "sarvam_mla", "sarvam_moe", "seed_oss", "solar_open", "stablelm", "ultrabert",
    "ultravbert", "vibevoice_asr", "voxtral", "xlstm", "emu3_text_model", "mllama_text_model",
    "musicgen_decoder", "musicgen_melody_decoder", "llava", "llava_next", "llava_next_video",
    "llava_onevision", "qwen2_vl", "qwen2_5_vl", "glm4v", "glm4v_moe", "fast_vlm", "glm_ocr",
    "minimax_m3_vl", "perception_lm",
))
# fmt: on

# fmt: off
FAMILIES: dict[str, Family] = {
    **dict.fromkeys(
        ("llama", "llama4", "llama4_text", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
         "qwen3_moe", "gpt_neox", "phi", "phi3", "gptj", "deepseek_v2", "deepseek_v3", "olmo",
         "olmo2", "internlm2", "stablelm", "starcoder2", "cohere", "falcon"),
        _ROTARY,
    ),
    **dict.fromkeys(("gemma", "gemma2", "gemma3", "gemma3_text"), _GEMMA),
    **dict.fromkeys(
        ("gemma3n", "gemma3n_text", "gemma4", "gemma4_text", "gemma4_assistant", "gemma4_unified",
         "gemma4_unified_text", "gemma4_unified_assistant", "recurrent_gemma", "vaultgemma"),
        Family(embed_scale="sqrt(hidden_size)"),
    ),
    "t5gemma2": Family(embed_scale="sqrt(hidden_size)", config_path="encoder"),
    "minicpm3": Family(positions="rotary", embed_scale="scale_emb"),
    # Both tables share one vocabulary, but the decoder's is its own tensor and the head is
    # tied to it (not to the encoder's): the target table.
    "t5gemma": Family(tie_owner="never", target=True, target_path="decoder", config_path="encoder"),
    "encoder-decoder": Family(
        tie_owner="never", target=True, target_path="decoder", config_path="encoder"
    ),
    "fsmt": _learned(
        "max_position_embeddings", "encoder.embed_positions.weight", position_offset=2,
        position_count=2, tie_owner="never", target=True, target_vocab="tgt_vocab_size",
        notes=("sinusoidal positions, but stored in the checkpoint",),
    ),
    "blt": Family(tie_forced=False, config_path="encoder_config"),
    "dbrx": Family(tie_forced=False),
    **dict.fromkeys(("t5", "mt5", "umt5", "longt5", "pop2piano"),
                    Family(positions="relative", encoder=True, tie_forced=True)),
    "switch_transformers": Family(positions="relative"),
    # Their config classes forward text_config's flag when their own is False.
    **dict.fromkeys(
        ("llava", "llava_next_video", "llava_onevision", "fast_vlm", "glm4v", "glm4v_moe",
         "glm_ocr", "hunyuan_vl", "minimax_m3_vl", "paddleocr_vl", "perception_lm", "qwen2_vl",
         "qwen2_5_vl"),
        Family(tie_from_text=True),
    ),
    # The language model is a submodel whose own config decides the tying.
    **dict.fromkeys(
        ("audioflamingo3", "musicflamingo", "nemo_speechlm", "omniasr", "qwen2_audio",
         "vibevoice_asr", "voxtral"),
        Family(tie_owner="text"),
    ),
    # Their classes tie no head to the input table.
    **dict.fromkeys(("bailing_hybrid", "kimi_linear", "nemotron_h", "xlstm", "inkling_text"),
                    _NEVER),
    "esmc": Family(tie_owner="never", head_suffixes=("lm_head.decoder.weight",)),
    "luke": _learned(
        "max_position_embeddings", "embeddings.position_embeddings.weight", tie_owner="never",
        token_types=True, notes=("LukeForMaskedLM ties only its entity head",),
    ),
    **dict.fromkeys(("mllama", "mllama_text_model"),
                    Family(tie_owner="never", extra_rows=(8,), notes=("8 image tokens",))),
    "moshi": Family(tie_owner="never", extra_rows=(1,)),
    "cpmant": Family(
        tie_owner="never", extra_rows=(("prompt_types", "prompt_length"),), honours_mask=False,
        table_suffixes=("input_embedding.weight",),
    ),
    # One table per codebook (the first is the table), no single output head.
    **dict.fromkeys(("musicgen_decoder", "musicgen_melody_decoder"), Family(
        tie_owner="never", extra_rows=(1,), table_suffixes=("decoder.embed_tokens.0.weight",),
    )),
    # Inkling 2 pads the stored head to vocab_size rows; the model uses unpadded_vocab_size.
    **dict.fromkeys(("inkling2_text", "inkling2_loop_text"), Family(
        tie_owner="never", table_suffixes=("llm.embed.weight",),
        head_suffixes=("llm.unembed.weight",), head_rows="unpadded_vocab_size",
    )),
    "reformer": Family(
        tie_owner="never", head_suffixes=("lm_head.decoder.weight",),
        head_width=((2, "hidden_size"),),  # the reversible residual's two halves, concatenated
    ),
    "rembert": _learned(
        "max_position_embeddings", "position_embeddings.weight", tie_owner="never",
        token_types=True, encoder=True, table_width="input_embedding_size",
        position_width="input_embedding_size", head_width=("output_embedding_size",),
        head_suffixes=("cls.predictions.decoder.weight",),
        projection=(Projection("encoder.embedding_hidden_mapping_in"),),
    ),
    "deepseek_v4": Family(positions="rotary", head_suffixes=("head.weight",)),
    "rwkv": Family(head_suffixes=("head.weight",)),
    "ultrabert": Family(head_suffixes=("cls.weight",)),
    "ultravbert": Family(head_suffixes=("head.decoder.weight",)),
    "ctrl": Family(table_suffixes=("transformer.w.weight",), positions="sinusoidal"),
    "neomme": Family(
        table_width="embedding_rank", table_suffixes=("embed_tokens.word_embeddings.weight",),
        projection=(Projection("embed_tokens.embedding_projection", bias=False),
                    Projection("unembedding_projection", bias=False)),
    ),
    "perceiver": _learned(
        "max_position_embeddings", "input_preprocessor.position_embeddings.weight",
        table_suffixes=("input_preprocessor.embeddings.weight",), token_states=False,
        notes=("get_input_embeddings() returns the latent array, not the byte table",),
    ),
    **dict.fromkeys(("mamba", "falcon_mamba"), Family()),
    **dict.fromkeys(("bloom", "mpt"), Family(positions="alibi")),
    "gpt2": _learned("n_positions", "wpe.weight"),
    "gpt-sw3": _learned("n_positions", "wpe.weight"),
    "gpt_bigcode": _learned("n_positions", "wpe.weight"),
    "gpt_neo": _learned("max_position_embeddings", "wpe.weight"),
    "openai-gpt": _learned("n_positions", "positions_embed.weight"),
    "opt": _learned(
        "max_position_embeddings", "embed_positions.weight", position_offset=2,
        table_width="word_embed_proj_dim",
        projection=(Projection("decoder.project_in", bias=False),),
    ),
    "biogpt": _learned("max_position_embeddings", "embed_positions.weight", position_offset=2),
    "trocr": _learned(
        "max_position_embeddings", "decoder.embed_positions.weight", position_offset=2,
        position_switch="use_learned_position_embeddings",
    ),
    "whisper": _learned("max_target_positions", "decoder.embed_positions.weight"),
    **dict.fromkeys(("bart", "mbart", "mvp", "plbart"), _BART_LIKE),
    **dict.fromkeys(("blenderbot", "blenderbot-small", "bigbird_pegasus"), _learned(
        "max_position_embeddings", "encoder.embed_positions.weight", position_count=2,
    )),
    "led": _learned("max_encoder_position_embeddings", "encoder.embed_positions.weight"),
    "prophetnet": _learned(
        "max_position_embeddings", "encoder.position_embeddings.weight", position_count=2
    ),
    **dict.fromkeys(
        ("m2m_100", "marian", "pegasus", "pegasus_x", "nllb-moe", "xglm", "seamless_m4t",
         "seamless_m4t_v2"),
        Family(positions="sinusoidal"),
    ),
    **dict.fromkeys(("xlm", "flaubert"), _learned(
        "max_position_embeddings", "position_embeddings.weight",
        table_suffixes=("transformer.embeddings.weight",),
    )),
    "xlnet": Family(positions="relative"),
    **dict.fromkeys(
        ("bert", "roberta", "xlm-roberta", "camembert", "data2vec-text", "ernie", "esm",
         "layoutlm", "longformer", "megatron-bert", "roberta-prelayernorm", "roc_bert", "tapas",
         "xlm-roberta-xl", "xmod", "bert-generation", "big_bird", "squeezebert", "mpnet"),
        _BERT_LIKE,
    ),
    **dict.fromkeys(("deberta", "deberta-v2"), _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        encoder=True, position_switch="position_biased_input",
    )),
    "git": _learned("max_position_embeddings", "embeddings.position_embeddings.weight"),
    "distilbert": _learned("max_position_embeddings", "position_embeddings.weight", encoder=True),
    "fnet": _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        honours_mask=False, notes=("Fourier mixing has no attention mask",),
    ),
    **dict.fromkeys(("yoso", "nystromformer"), _learned(
        "max_position_embeddings", "position_embeddings.weight", position_offset=2,
        token_types=True, honours_mask=False, notes=("approximate attention mixes padding in",),
    )),
    **dict.fromkeys((MODEL2VEC_TYPE, STATIC_EMBEDDING_TYPE),
                    Family(tie_owner="never", static=True)),
    "funnel": Family(honours_mask=False, notes=("its pooling mixes padding in",)),
    "mra": _learned(
        "max_position_embeddings", "position_embeddings.weight", position_offset=2,
        token_types=True,
    ),
    "albert": _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        encoder=True, **_FACTORISED,
        projection=(Projection("encoder.embedding_hidden_mapping_in"),),
    ),
    "electra": _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        encoder=True, **_FACTORISED, projection=_PROJECT,
    ),
    "convbert": _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        **_FACTORISED, projection=_PROJECT, honours_mask=False,
        notes=("its span-based convolution mixes padding in",),
    ),
    "roformer": Family(
        positions="rotary", token_types=True, table_width="embedding_size", projection=_PROJECT
    ),
    "mobilebert": _learned(
        "max_position_embeddings", "position_embeddings.weight", token_types=True,
        table_width="embedding_size",
        projection=(Projection("embeddings.embedding_transformation", inputs=3,
                               inputs_flag="trigram_input"),),
    ),
}
# fmt: on


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


def tied_by_default(model_type: str) -> bool:
    """The config class's ``tie_word_embeddings`` default (True for families not listed)."""
    return model_type not in UNTIED_BY_DEFAULT


Types = str | tuple[str, ...]


def _records(model_type: Types) -> list[Family]:
    """The records of one model type, or of several (a composite's language model's, then
    its own: UltraVBert keeps its head where UltraBERT does not)."""
    types = (model_type,) if isinstance(model_type, str) else model_type
    return [family(t) for t in types]


def table_suffixes(model_type: Types) -> tuple[str, ...]:
    """Input-table name suffixes to try for ``model_type`` (or types), best first."""
    own = tuple(s for f in _records(model_type) for s in f.table_suffixes)
    return tuple(dict.fromkeys(own + TABLE_SUFFIXES))


def head_suffixes(model_type: Types) -> tuple[str, ...]:
    """Output-head name suffixes to try for ``model_type`` (or types), best first."""
    own = tuple(s for f in _records(model_type) for s in f.head_suffixes)
    return tuple(dict.fromkeys(own + HEAD_SUFFIXES))
