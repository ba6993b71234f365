"""The zoo: a tiny random checkpoint of every text architecture transformers can build.

``python -m tests.zoo build DIR`` walks transformers' auto mappings (causal LM, masked LM,
sequence-to-sequence LM), builds each architecture from its config class's defaults shrunk to a
few thousand parameters, saves it with ``save_pretrained`` (safetensors) beside a small trained
tokenizer, and records what transformers itself says about it: which saved tensor is the input
table (``get_input_embeddings()``), which the output head (``get_output_embeddings()``) or
whether it is tied, the config fields of vocabulary and width, scaled and factorised embeddings,
position tables, and whether a plain forward pass runs and honours the attention mask.

``python -m tests.zoo report DIR --json facts.json`` gathers those facts and runs embcli's
``info``, ``info --table output``, ``size`` and ``context`` on every checkpoint, comparing each
answer with the facts. Nothing here asks embcli which tensor is the table: the ground truth
comes from transformers' own modules, by storage identity, so the zoo can judge embcli's rules.

Each architecture is built and checked in a worker process of its own (a pool, ``--jobs``), so
one architecture that crashes or hangs costs one entry, not the run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Words in a module name that mark a non-text tower (its position tables are not the text's).
OTHER_MODALITIES = ("vision", "visual", "image", "audio", "speech", "patch", "vq")
#: The auto mappings walked, in the order a model type's class is chosen: an encoder-decoder's
#: own head first, then the masked-LM head of an encoder (its pretraining head), then the
#: causal LM. One checkpoint per model type.
MAPPINGS = (
    "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
)
SEED = 0
VOCAB = 1000
WIDTH = 64
HEADS = 4
KV_HEADS = 2
LAYERS = 2
FFN = 128
EXPERTS = 4
POSITIONS = 128
TIMEOUT = 240  # seconds per architecture (build, facts and forward passes)

WORD = "bank"
SENTENCES = (
    "The bank of the river was green.",
    "She walked to the bank to get some money and a coffee.",
)

#: Generic shrinking: config keys (at any depth of a nested config) and their tiny values.
#: Width-like keys first so heads and head_dim are set consistently with them.
SHRINK: dict[str, int] = {
    # widths
    "hidden_size": WIDTH,
    "d_model": WIDTH,
    "n_embd": WIDTH,
    "n_embed": WIDTH,
    "dim": WIDTH,
    "embed_dim": WIDTH,
    "emb_dim": WIDTH,
    "model_dim": WIDTH,
    "word_embed_proj_dim": WIDTH // 2,  # OPT-350m: a table narrower than hidden, projected
    "embedding_size": WIDTH // 2,  # factorised tables stay narrower than hidden
    "embedding_dim": WIDTH,
    "d_embed": WIDTH,
    "hidden_dim": WIDTH,
    # feed-forward
    "intermediate_size": FFN,
    "ffn_dim": FFN,
    "d_ff": FFN,
    "n_inner": FFN,
    "encoder_ffn_dim": FFN,
    "decoder_ffn_dim": FFN,
    "ffn_hidden_size": FFN,
    "moe_intermediate_size": FFN // 2,
    "shared_expert_intermediate_size": FFN // 2,
    "expert_intermediate_size": FFN // 2,
    "dense_intermediate_size": FFN,
    "intermediate_size_mlp": FFN,
    "true_hidden_size": WIDTH // 2,
    "intra_bottleneck_size": WIDTH // 2,
    # depth
    "num_hidden_layers": LAYERS,
    "num_layers": LAYERS,
    "n_layer": LAYERS,
    "n_layers": LAYERS,
    "encoder_layers": LAYERS,
    "decoder_layers": LAYERS,
    "num_decoder_layers": LAYERS,
    "num_encoder_layers": LAYERS,
    # heads
    "num_attention_heads": HEADS,
    "n_head": HEADS,
    "n_heads": HEADS,
    "num_heads": HEADS,
    "encoder_attention_heads": HEADS,
    "decoder_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "n_kv_heads": KV_HEADS,
    "num_kv_heads": KV_HEADS,
    "multi_query_group_num": KV_HEADS,
    "head_dim": WIDTH // HEADS,
    "d_kv": WIDTH // HEADS,
    "kv_channels": WIDTH // HEADS,
    # multi-head latent attention (DeepSeek V2/V3, MiniCPM3, Kimi...) and partial rotary
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": WIDTH // HEADS,
    "kv_lora_rank": 32,
    "q_lora_rank": 32,
    "rotary_dim": 8,
    "linear_num_heads": HEADS,
    "linear_head_dim": WIDTH // HEADS,
    "num_blocks": LAYERS,  # xLSTM's depth
    # experts
    "num_experts": EXPERTS,
    "num_local_experts": EXPERTS,
    "n_routed_experts": EXPERTS,
    "moe_num_experts": EXPERTS,
    "num_experts_per_tok": 2,
    "num_experts_per_token": 2,
    "moe_k": 2,
    "moe_topk": 2,
    "top_k": 2,
    "n_group": 1,
    "num_kv_shared_layers": 0,  # the last N layers reuse others' caches; none of 2 layers
    "topk_group": 1,
    # vocabulary and positions
    "vocab_size": VOCAB,
    "n_vocab": VOCAB,
    "padded_vocab_size": VOCAB,
    "decoder_vocab_size": VOCAB,
    "unpadded_vocab_size": VOCAB - 8,  # Inkling 2: the model's rows; checkpoints pad to vocab_size
    "vocab_size_per_layer_input": VOCAB,
    "hidden_size_per_layer_input": 16,
    # two vocabularies (FSMT): of different sizes, so the facts tell the tables apart
    "src_vocab_size": VOCAB,
    "tgt_vocab_size": VOCAB - 100,
    "max_position_embeddings": POSITIONS,
    "n_positions": POSITIONS,
    "n_ctx": POSITIONS,
    "max_seq_len": POSITIONS,
    "seq_length": POSITIONS,
}
DEPTH_KEYS = {k for k, v in SHRINK.items() if v == LAYERS and "layer" in k}
#: Keys whose value is only shrunk, never grown (a default below the generic value stays).
SHRINK_ONLY = {
    "vocab_size",
    "n_vocab",
    "padded_vocab_size",
    "decoder_vocab_size",
    "unpadded_vocab_size",
    "vocab_size_per_layer_input",
    "hidden_size_per_layer_input",
    "src_vocab_size",
    "tgt_vocab_size",
    "num_experts",
    "num_local_experts",
    "n_routed_experts",
    "moe_num_experts",
    "num_experts_per_tok",
    "num_experts_per_token",
    "moe_k",
    "moe_topk",
    "top_k",
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "n_layers",
}
#: Fields derived from the full-size widths when the config was made: dropped (None) so that
#: the config class derives them again from the shrunk ones.
DERIVED = {"attention_hidden_size": None, "qk_head_dim": None, "mamba_dt_rank": "auto"}
#: Size fields some defaults leave None although the modelling code needs a number.
FILL_NONE = {
    "head_dim": WIDTH // HEADS,
    "num_key_value_heads": KV_HEADS,
    "n_routed_experts": EXPERTS,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
}
#: Keys naming token ids; clamped into the shrunk vocabulary.
TOKEN_ID_SUFFIXES = ("token_id", "token_ids", "token_index", "_token")

#: Where generic shrinking fails, per model type: config keys to set after it (dotted paths
#: reach nested configs). Each entry says why.
OVERRIDES: dict[str, dict[str, Any]] = {
    # Mamba-2 heads must cover expand * hidden (2 * 64 = 8 heads of 16).
    "bamba": {"mamba_n_heads": 8, "mamba_d_head": 16, "mamba_expand": 2},
    "granitemoehybrid": {"mamba_n_heads": 8, "mamba_d_head": 16, "mamba_expand": 2},
    "mamba2": {"num_heads": 8, "head_dim": 16, "expand": 2},
    # input + recurrent + output layers must add up to the depth.
    # Dory's saved config lists an "mlp" entry after each layer and halves on load: 6 -> 3.
    "dory": {
        "n_input_layers": 2,
        "n_recurrent_layers": 2,
        "n_output_layers": 2,
        "layer_types": ["sliding_attention", "mlp"] * 2 + ["full_attention", "mlp"],
    },
    # ESMC has no grouped-query attention; its vocabulary is 64 amino-acid tokens.
    "esmc": {"num_key_value_heads": HEADS},
    # ESM's default vocabulary is None (each checkpoint states its own: 33 amino-acid tokens).
    "esm": {"vocab_size": 33, "pad_token_id": 1, "mask_token_id": 32},
    # XLNet checks d_head == d_model // n_head.
    "xlnet": {"d_head": WIDTH // HEADS},
    # The two axial position factors must add up to the width and multiply to the positions.
    "reformer": {"axial_pos_embds_dim": [WIDTH // 2, WIDTH // 2], "axial_pos_shape": [8, 16]},
    # SqueezeBERT has no projection: its table must be as wide as the hidden states.
    "squeezebert": {"embedding_size": WIDTH},
    # The speech head's width must follow the (shrunk) audio encoder's.
    "nemo_speechlm": {"audio_config.diarization_config.head_config.audio_hidden_size": WIDTH},
    # Zamba shares one attention block every `attn_layer_period` layers from an offset: with
    # 2 layers the tie rule finds nothing to tie.
    "zamba": {
        "attention_hidden_size": 2 * WIDTH,
        "attention_head_dim": 2 * WIDTH // HEADS,
        "attn_layer_period": 2,
        "attn_layer_offset": 1,
        "layers_block_type": ["linear_attention", "hybrid"] * 2,
    },
    # Its MLA heads are not grouped: key/value heads must equal the attention heads.
    # and its sliding-window head_dim must be the sum of the MLA parts.
    "dots3_note": {"num_key_value_heads": HEADS, "head_dim": 16},
    "dots3_note_text": {"num_key_value_heads": HEADS, "head_dim": 16},
    # The defaults below do not build even at full size (transformers 5.x): each sets what the
    # modelling code reads and the config leaves None.
    "lfm2_moe": {"layer_types": ["conv", "full_attention"]},
    "cohere_compass_text": {
        "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    },
    "dbrx": {"attn_config.rope_theta": 10000.0, "attn_config.clip_qkv": 8.0},
    # Zamba 2's Mamba heads: expand * hidden = heads * head width; adapters and groups small.
    "zamba2": {
        "mamba_headdim": 16,
        "adapter_rank": 8,
        "num_query_groups": KV_HEADS,
        "attention_hidden_size": 2 * WIDTH,  # its shared block reads [hidden, embeddings]
        "attention_head_dim": 2 * WIDTH // HEADS,
    },
    # HRM stacks its own layers per cycle; X-MOD needs a language to route its adapters.
    "hrm_text": {"num_layers_per_stack": 1},
    "xmod": {"default_language": "en_XX"},
    # Sizes the generic shrinking does not know, left large they cost the zoo minutes:
    # Perceiver's latent array (26 self-attention layers of 1,280 wide latents)...
    "perceiver": {"d_latents": WIDTH, "num_latents": 32, "num_self_attends_per_block": 2},
    # ... VibeVoice's two convolutional audio tokenizers (filters doubling over 7 stages)...
    "vibevoice_asr": {
        f"{part}_tokenizer_encoder_config.{key}": value
        for part in ("acoustic", "semantic")
        for key, value in (("depths", [1] * 7), ("num_filters", 1))
    },
    # ... BLT's hash n-gram table (500,002 rows), LUKE's entity table (500,000 rows),
    # RoCBERT's glyph and pronunciation tables, LongCat-Flash's expert width.
    "blt": {"encoder_hash_byte_group_vocab": VOCAB},
    "luke": {"entity_vocab_size": 100},
    "roc_bert": {"shape_vocab_size": 100, "shape_embed_dim": 32, "pronunciation_embed_dim": 32},
    "longcat_flash": {"expert_ffn_hidden_size": FFN},
}
#: Depth other than LAYERS where a family's layer pattern needs more layers (see OVERRIDES).
DEPTH = {"dory": 6, "zamba": 4}
#: Arguments without which the config class's own defaults fail validation.
DEFAULTS: dict[str, dict[str, Any]] = {
    # the default Gemma 4 assistant config asks for per-layer inputs it then forbids
    "gemma4_assistant": {
        "text_config": {"hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 0}
    },
}

#: Model types built from sub-configs rather than their own defaults.
COMPOSED = {
    # EncoderDecoderConfig() has no defaults: it needs an encoder and a decoder config.
    "encoder-decoder": ("bert", "bert"),
}


# --------------------------------------------------------------------------------------------
# enumeration


def architectures() -> list[tuple[str, str, str]]:
    """``(model_type, class name, mapping)`` for every model type in the text LM mappings."""
    from transformers.models.auto import modeling_auto

    chosen: dict[str, tuple[str, str]] = {}
    for mapping in MAPPINGS:
        for model_type, cls in getattr(modeling_auto, mapping).items():
            if isinstance(cls, (list, tuple)):
                cls = cls[0]
            chosen.setdefault(model_type, (cls, mapping.removesuffix("_MAPPING_NAMES")))
    return [(t, c, m) for t, (c, m) in sorted(chosen.items())]


# --------------------------------------------------------------------------------------------
# tiny configs


def _shrink_value(key: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if key in SHRINK:
        target = SHRINK[key]
        if key in SHRINK_ONLY:
            return min(value, target)
        return target
    return value


def shrink_dict(d: dict[str, Any], layers: int = LAYERS) -> dict[str, Any]:
    """A config dict with every size-like field made tiny, at any depth.

    Per-layer lists (``layer_types``, ``mlp_only_layers``...) whose length was the default
    depth are cut to the new depth, keeping one of each kind of layer where there is room.
    """
    out: dict[str, Any] = {}
    old_layers = next(
        (d[k] for k in ("num_hidden_layers", "num_layers", "n_layer") if isinstance(d.get(k), int)),
        None,
    )
    sized = any(isinstance(d.get(k), int) for k in ("hidden_size", "d_model", "n_embd"))
    for key, value in d.items():
        if isinstance(value, dict):
            out[key] = shrink_dict(value, layers)
        elif key in DEPTH_KEYS and isinstance(value, int) and not isinstance(value, bool):
            out[key] = min(value, layers)
        elif key in DERIVED and sized:
            out[key] = DERIVED[key]
        elif key == "head_dim" and "qk_rope_head_dim" in d:
            out[key] = SHRINK["qk_rope_head_dim"]  # MLA: rotary over the rope part only
        elif key == "num_key_value_heads" and "qk_rope_head_dim" in d and value:
            out[key] = HEADS  # MLA has no grouped keys (the defaults say kv heads = heads)
        elif value is None and sized and key in FILL_NONE:
            out[key] = FILL_NONE[key]
        else:
            out[key] = _shrink_value(key, value)
    new_layers = next(
        (
            out[k]
            for k in ("num_hidden_layers", "num_layers", "n_layer")
            if isinstance(out.get(k), int)
        ),
        None,
    )
    if old_layers and new_layers and old_layers != new_layers:
        for key, value in d.items():
            if isinstance(value, list) and len(value) == old_layers and value:
                out[key] = _cut_layers(value, new_layers)
            elif isinstance(value, dict) and value and all(_layer_key(k) for k in value):
                # per-layer settings keyed by layer index: keep those of the remaining layers
                out[key] = {k: v for k, v in value.items() if int(k) < new_layers}
    return out


def _layer_key(key: Any) -> bool:
    return isinstance(key, int) or (isinstance(key, str) and key.isdigit())


def _cut_layers(values: list[Any], n: int) -> list[Any]:
    """``n`` entries of a per-layer list, one of each distinct kind first, in original order."""
    firsts: list[int] = []
    seen: list[Any] = []
    for i, v in enumerate(values):
        if v not in seen:
            seen.append(v)
            firsts.append(i)
    keep = sorted(firsts[:n])
    for i in range(len(values)):
        if len(keep) >= n:
            break
        if i not in keep:
            keep.append(i)
    return [values[i] for i in sorted(keep)]


def clamp_token_ids(d: dict[str, Any], vocab: int) -> None:
    """Token ids past the shrunk vocabulary, moved to distinct ids at its end (in place)."""
    used: set[int] = set()

    def clamp(v: int) -> int:
        if v < vocab:
            return v
        new = vocab - 1
        while new in used:
            new -= 1
        used.add(new)
        return new

    for key, value in list(d.items()):
        if isinstance(value, dict):
            clamp_token_ids(value, int(value.get("vocab_size") or vocab))
        elif isinstance(key, str) and key.endswith(TOKEN_ID_SUFFIXES):
            if isinstance(value, int) and not isinstance(value, bool):
                d[key] = clamp(value)
            elif isinstance(value, list) and all(isinstance(x, int) for x in value):
                d[key] = [clamp(x) for x in value]


def tiny_config(model_type: str, cls: Any) -> Any:
    """The config class's defaults, shrunk generically, then the family's overrides."""
    import transformers

    if model_type in COMPOSED:
        enc_type, dec_type = COMPOSED[model_type]
        enc = tiny_config(enc_type, None)
        dec = tiny_config(dec_type, None)
        dec.is_decoder = True
        dec.add_cross_attention = True
        return transformers.EncoderDecoderConfig(encoder=enc.to_dict(), decoder=dec.to_dict())
    config_class = cls.config_class if cls is not None else transformers.CONFIG_MAPPING[model_type]
    raw = config_class(**DEFAULTS.get(model_type, {})).to_dict()
    small = shrink_dict(raw, DEPTH.get(model_type, LAYERS))
    clamp_token_ids(small, int(small.get("vocab_size") or VOCAB))
    for path, value in OVERRIDES.get(model_type, {}).items():
        _set_path(small, path, value)
    for key in ("transformers_version", "architectures", "_name_or_path"):
        small.pop(key, None)
    small.pop("model_type", None)
    config = config_class(**small)
    return config


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[last] = value


# --------------------------------------------------------------------------------------------
# tokenizers

CORPUS = [
    *SENTENCES,
    "The king and the queen live in Paris, the capital of France.",
    "A man and a woman walk to Berlin; the prince meets the princess.",
    "Cats and dogs are animals. Horses run, birds fly, fish swim.",
    "Red, green and blue are colours. Tokyo is in Japan, Rome in Italy.",
    "unbelievable defenestration tokenization embeddings vectors river money coffee",
] * 4
_TOKENIZERS: dict[int, Any] = {}


def tokenizer_for(rows: int) -> tuple[Any | None, str]:
    """A trained ``tokenizers`` tokenizer of at most ``rows`` tokens, and its kind.

    Byte-level BPE where the table has room for the 256 bytes; a lower-cased character BPE for
    small tables (60 to 259 rows); none below (a protein or byte model needs its own).
    """
    if rows in _TOKENIZERS:
        return _TOKENIZERS[rows]
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if rows >= 260:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=rows,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        kind = "byte-level BPE"
    elif rows >= 60:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=rows, special_tokens=["<unk>", "</s>"], show_progress=False
        )
        kind = "lower-case character BPE"
    else:
        _TOKENIZERS[rows] = (None, f"none: a table of {rows} rows needs the family's own")
        return _TOKENIZERS[rows]
    tok.train_from_iterator(CORPUS, trainer)
    _TOKENIZERS[rows] = (tok, kind)
    return _TOKENIZERS[rows]


def fast_tokenizer(tok: Any) -> Any:
    """A transformers fast tokenizer over ``tok`` with a pad token (the last special)."""
    from transformers import PreTrainedTokenizerFast

    specials = [t for t in ("<|endoftext|>", "</s>", "<unk>") if tok.token_to_id(t) is not None]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    fast.pad_token = specials[0]
    return fast


# --------------------------------------------------------------------------------------------
# facts from transformers


def saved_tensors(directory: Path) -> dict[str, Any]:
    """Every tensor saved in the directory's safetensors files, by name."""
    from safetensors.torch import load_file

    out: dict[str, Any] = {}
    for f in sorted(directory.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def stored_names(weight: Any, saved: dict[str, Any], padded: bool = False) -> list[str]:
    """Names of the saved tensors equal to ``weight`` (shape and every value); ``padded``:
    also those whose first rows are ``weight`` (Inkling 2 saves its head padded)."""
    import torch

    w = weight.detach().float().cpu()
    exact = sorted(
        n
        for n, t in saved.items()
        if tuple(t.shape) == tuple(w.shape) and torch.equal(t.float(), w)
    )
    if exact or not padded or w.dim() != 2:
        return exact
    return sorted(
        n
        for n, t in saved.items()
        if t.dim() == 2
        and t.shape[1] == w.shape[1]
        and t.shape[0] > w.shape[0]
        and torch.equal(t[: w.shape[0]].float(), w)
    )


def aliases(model: Any, weight: Any) -> list[str]:
    """Every parameter name under which ``weight`` (the same storage) is reachable."""
    return [
        n
        for n, p in model.named_parameters(remove_duplicate=False)
        if p is weight or (p.data_ptr() == weight.data_ptr() and p.shape == weight.shape)
    ]


def config_paths(raw: dict[str, Any], value: int, prefix: str = "") -> list[str]:
    """Dotted paths of the config fields (any depth) whose integer value is ``value``."""
    out = []
    for k, v in raw.items():
        if isinstance(v, dict):
            out += config_paths(v, value, f"{prefix}{k}.")
        elif isinstance(v, int) and not isinstance(v, bool) and v == value:
            out.append(prefix + str(k))
    return out


def tie_flags(config: Any) -> dict[str, Any]:
    """``tie_word_embeddings`` as set at the top level and in each nested config."""
    flags: dict[str, Any] = {"top": getattr(config, "tie_word_embeddings", None)}
    for key in ("text_config", "encoder", "decoder", "language_config", "llm_config"):
        sub = getattr(config, key, None)
        if sub is not None and hasattr(sub, "tie_word_embeddings"):
            flags[key] = sub.tie_word_embeddings
    return flags


def scale_facts(model: Any, emb: Any) -> dict[str, Any]:
    """Whether the table's rows are scaled on the way in (Gemma's sqrt(d_model), BART's
    ``scale_embedding``), in the embedding module itself or as a model attribute."""
    import torch

    ids = torch.tensor([[1, 2, 3]])
    ratio = 1.0
    if isinstance(emb, torch.nn.Module):
        with torch.no_grad():
            out = emb(ids)
            out = (out[0] if isinstance(out, tuple) else out).float()
            raw = emb.weight[ids].float()
        ratio = float((out.norm() / raw.norm()).item()) if raw.norm() > 0 else 1.0
    attrs = {}
    for name, mod in model.named_modules():
        for attr in ("embed_scale", "normalizer"):  # RecurrentGemma: a "normalizer" buffer
            v = getattr(mod, attr, None)
            if v is None or isinstance(v, torch.nn.Module):
                continue
            v = float(v.float().flatten()[0]) if torch.is_tensor(v) else float(v)
            if not math.isclose(v, 1.0):
                attrs[f"{name}.{attr}".lstrip(".")] = v
    scaled = not math.isclose(ratio, 1.0, rel_tol=1e-5) or bool(attrs)
    return {
        "scaled": scaled,
        "module_ratio": ratio,
        "module_class": type(emb).__name__,
        "embed_scale": attrs,
    }


def projection_after(model: Any, rows_width: int, hidden: int | None) -> list[str]:
    """Linear maps from the table's width to the hidden width (factorised embeddings)."""
    import torch

    if hidden is None or hidden == rows_width:
        return []
    out = []
    for name, mod in model.named_modules():
        if (
            isinstance(mod, torch.nn.Linear)
            and mod.in_features in (rows_width, 3 * rows_width)
            and mod.out_features == hidden
            and any(w in name for w in ("emb", "project", "mapping", "transformation"))
        ):
            out.append(name)
    return out


def other_tables(model: Any, emb: Any, saved: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Position and token-type tables beside the input table (learned, absolute), in the
    tower that holds it (same first module), never relative-position tables."""
    import torch

    weight = emb if isinstance(emb, torch.nn.Parameter) else emb.weight
    towers = {n.split(".")[0] for n in aliases(model, weight)}
    found: dict[str, list[dict[str, Any]]] = {"positions": [], "token_types": []}
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Embedding) or mod is emb or mod.weight is emb:
            continue
        low = name.lower()
        if any(m in low for m in OTHER_MODALITIES) or "rel_pos" in low:
            continue
        if towers and name.split(".")[0] not in towers:
            continue
        kind = (
            "positions"
            if ("pos" in low or low.endswith("wpe"))
            else "token_types"
            if "token_type" in low
            else None
        )
        if kind is None:
            continue
        found[kind].append(
            {
                "module": name,
                "shape": list(mod.weight.shape),
                "stored": stored_names(mod.weight, saved),
                # sinusoidal tables are Embedding modules too, but frozen
                "learned": bool(mod.weight.requires_grad),
            }
        )
    return found


def text_widths(config: Any) -> dict[str, Any]:
    """The hidden width the body works at, from the (text) config."""
    for key in ("text_config", "language_config", "llm_config"):
        sub = getattr(config, key, None)
        if sub is not None and getattr(sub, "vocab_size", None):
            config = sub
            break
    for key in ("hidden_size", "d_model", "n_embd", "dim", "emb_dim", "embed_dim", "model_dim"):
        v = getattr(config, key, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return {"hidden": v, "hidden_field": key}
    return {"hidden": None, "hidden_field": None}


def table_weight(model: Any) -> tuple[Any, Any, int]:
    """``(module, weight, number of tables)`` of ``get_input_embeddings()``, which is an
    Embedding for most, a list of per-codebook tables for MusicGen (the first is taken), and
    for Perceiver the latent array (a bare Parameter): its token table is the input
    preprocessor's ``embeddings``, taken instead."""
    import torch

    emb = model.get_input_embeddings()
    if isinstance(emb, torch.nn.Parameter):
        for name, mod in model.named_modules():
            if name.endswith("input_preprocessor.embeddings") and hasattr(mod, "weight"):
                return mod, mod.weight, 1
        return emb, emb, 1
    if isinstance(emb, torch.nn.ModuleList):
        return emb[0], emb[0].weight, len(emb)
    return emb, emb.weight, 1


def model_facts(model: Any, directory: Path) -> dict[str, Any]:
    """The table, head, tying, scaling and extra tables of ``model`` as saved in ``directory``."""
    saved = saved_tensors(directory)
    raw = json.loads((directory / "config.json").read_text())
    emb, w, n_tables = table_weight(model)
    facts: dict[str, Any] = {
        "table": {
            "shape": list(w.shape),
            "tables": n_tables,
            "module": type(model.get_input_embeddings()).__name__,
            "aliases": aliases(model, w),
            "stored": stored_names(w, saved),
        },
        "saved_tensors": len(saved),
        "saved_params": int(sum(t.numel() for t in saved.values())),
        "params": int(sum(p.numel() for p in model.parameters())),
        "tie_flags": tie_flags(model.config),
        "tie_flags_saved": {
            "top": raw.get("tie_word_embeddings"),
            **{
                k: raw[k].get("tie_word_embeddings")
                for k in ("text_config", "encoder", "decoder")
                if isinstance(raw.get(k), dict)
            },
        },
        "vocab_fields": config_paths(raw, int(w.shape[0])),
        "width_fields": config_paths(raw, int(w.shape[1])),
        **text_widths(model.config),
    }
    try:
        head = model.get_output_embeddings()
    except (NotImplementedError, AttributeError) as exc:
        head = None
        facts["head_error"] = f"{type(exc).__name__}: {exc}"[:200]
    hw = getattr(head, "weight", None) if head is not None else None
    if hw is None and head is not None and hasattr(head, "shape"):
        hw = head  # a bare Parameter
    if hw is None:
        facts["head"] = None
    else:
        tied = hw is w or (hw.data_ptr() == w.data_ptr() and hw.shape == w.shape)
        facts["head"] = {
            "tied": bool(tied),
            "shape": list(hw.shape),
            "module": type(head).__name__,
            "aliases": aliases(model, hw),
            "stored": stored_names(hw, saved, padded=True),
            "bias": getattr(head, "bias", None) is not None,
        }
    facts["target"] = decoder_table(model, w, saved)
    facts["scale"] = scale_facts(model, emb)
    facts["projection"] = projection_after(model, int(w.shape[1]), facts["hidden"])
    facts.update(other_tables(model, emb, saved))
    facts["config_hidden_fields"] = {
        k: raw.get(k) for k in ("embedding_size", "word_embed_proj_dim", "emb_dim") if k in raw
    }
    return facts


def decoder_table(model: Any, table: Any, saved: dict[str, Any]) -> dict[str, Any] | None:
    """An encoder-decoder's decoder input table when it is a tensor of its own (FSMT's target
    vocabulary, T5Gemma's decoder table): where it is stored and its shape; else None."""
    import torch

    if not getattr(model.config, "is_encoder_decoder", False):
        return None
    try:
        decoder = model.get_decoder()
    except (AttributeError, NotImplementedError):
        return None
    try:
        emb = decoder.get_input_embeddings()
    except (AttributeError, NotImplementedError):  # a plain module (FSMT's decoder)
        emb = getattr(decoder, "embed_tokens", None)
    if emb is None:
        return None
    dw = getattr(emb, "weight", emb)
    if not isinstance(dw, torch.Tensor) or dw.data_ptr() == table.data_ptr():
        return None
    return {"stored": stored_names(dw, saved), "shape": list(dw.shape)}


# --------------------------------------------------------------------------------------------
# forward passes


def _first_line(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:200]}"


def encode(fast: Any, texts: Iterable[str]) -> list[dict[str, Any]]:
    enc = fast(list(texts), return_offsets_mapping=True, add_special_tokens=True)
    return [
        {"input_ids": enc["input_ids"][i], "offsets": enc["offset_mapping"][i]}
        for i in range(len(enc["input_ids"]))
    ]


def run_hidden(
    model: Any, batch: dict[str, Any], side: str, extra: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """``output_hidden_states`` of the plain forward pass; for an encoder-decoder, of the
    encoder alone (``side="encoder"``) or of the decoder fed the same ids."""
    import torch

    batch = {**batch, **(extra or {})}
    with torch.no_grad():
        if side == "encoder":
            out = model.get_encoder()(**batch, output_hidden_states=True)
            return tuple(h[0] if isinstance(h, tuple) else h for h in out.hidden_states)
        if side == "decoder":
            out = model(
                **batch,
                decoder_input_ids=batch["input_ids"],
                decoder_attention_mask=batch["attention_mask"],
                output_hidden_states=True,
            )
            return tuple(h[0] if isinstance(h, tuple) else h for h in out.decoder_hidden_states)
        out = model(**batch, output_hidden_states=True)
        return tuple(h[0] if isinstance(h, tuple) else h for h in out.hidden_states)


def word_positions(offsets: list[tuple[int, int]], text: str, word: str = WORD) -> list[int]:
    lo = text.lower().index(word)
    hi = lo + len(word)
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < hi and e > lo]


def forward_facts(model: Any, fast: Any, side: str) -> dict[str, Any]:
    """Does the forward pass run; layer count and widths; does a right-padded batch equal each
    sentence run alone (the attention mask honoured); the word's cosine between the two
    sentences per layer, from the sentences run alone (what ``context`` should report)."""
    import numpy as np
    import torch

    rows = encode(fast, SENTENCES)
    facts: dict[str, Any] = {"side": side}
    # A plain call first; hybrid attention/state-space models may need use_cache=False.
    for extra in ({}, {"use_cache": False}):
        try:
            alone = []
            for r in rows:
                ids = torch.tensor([r["input_ids"]])
                batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
                alone.append(run_hidden(model, batch, side, extra))
        except Exception as exc:
            facts.setdefault("error", _first_line(exc))
            continue
        break
    else:
        facts["runs"] = False
        return facts
    if extra:
        facts["needs"] = extra
    facts["runs"] = True
    facts["layers"] = len(alone[0])
    shapes = [list(h.shape) for h in alone[0]]
    odd = [sh for sh in shapes if len(sh) != 3 or sh[:2] != shapes[0][:2]]
    if odd:  # extra streams (DeepSeek V4, Gemma 3n) or pooled lengths (Funnel)
        facts["hidden_shapes"] = shapes
    facts["plain_shapes"] = not odd
    n_tokens = [len(r["input_ids"]) for r in rows]
    views = [[token_view(h, 1, n) for h in hs] for hs, n in zip(alone, n_tokens, strict=True)]
    if not any(h.dim() >= 3 and n_tokens[0] in h.shape[:3] for h in alone[0]):
        # No layer has the tokens' positions (Perceiver's latent array): nothing per token.
        views = [[None] * len(hs) for hs in alone]
    facts["token_layers"] = [v is not None for v in views[0]]
    widths = [int(v.shape[-1]) for v in views[0] if v is not None]
    facts["widths"] = sorted(set(widths))
    facts["equal_widths"] = len(set(widths)) == 1
    facts["width_per_layer"] = [None if v is None else int(v.shape[-1]) for v in views[0]]
    try:
        padded = fast.pad(
            [{"input_ids": r["input_ids"]} for r in rows], padding=True, return_tensors="pt"
        )
        batch = {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}
        hs = run_hidden(model, batch, side, extra)
        length = int(padded["input_ids"].shape[1])
        diff = 0.0
        for layer, h in enumerate(hs):
            v = token_view(h, len(rows), length)
            if v is None:
                continue
            for b, n in enumerate(n_tokens):
                diff = max(diff, float((v[b, :n] - views[b][layer][0, :n]).abs().max()))
        facts["padded_max_diff"] = diff
        facts["mask_honoured"] = diff < 1e-4
    except Exception as exc:
        facts["padded_error"] = _first_line(exc)
    cos: list[float | None] = []
    for layer in range(len(alone[0])):
        if views[0][layer] is None:
            cos.append(None)
            continue
        vecs = []
        for b, (r, text) in enumerate(zip(rows, SENTENCES, strict=True)):
            pos = word_positions(r["offsets"], text)
            vecs.append(views[b][layer][0, pos].double().mean(0).numpy())
        a, c = vecs
        cos.append(float(np.dot(a, c) / (np.linalg.norm(a) * np.linalg.norm(c))))
    facts["word_cosines"] = cos
    return facts


def token_view(h: Any, batch: int, length: int) -> Any:
    """One layer of ``output_hidden_states`` as ``[batch, length, D]`` per token, or None.

    The reference for ``context``'s per-layer rule: several streams per token (DeepSeek V4's
    hyper-connections ``[B, T, S, D]``, Gemma 3n's AltUp ``[S, B, T, D]``) side by side; a
    sequence padded to a block size (Pegasus-X) cut to its tokens; a pooled sequence (Funnel)
    has no vector per token.
    """
    if h.dim() == 3 and h.shape[0] == batch:
        return h[:, :length] if h.shape[1] >= length else None
    if h.dim() == 4 and tuple(h.shape[:2]) == (batch, length):
        return h.flatten(2)
    if h.dim() == 4 and tuple(h.shape[1:3]) == (batch, length):
        return h.movedim(0, 2).flatten(2)
    return None


# --------------------------------------------------------------------------------------------
# building one architecture


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout(f"more than {TIMEOUT} s")


def build_one(args: tuple[str, str, str, str]) -> dict[str, Any]:
    """Build, save and describe one architecture; never raises (failures are recorded)."""
    model_type, cls_name, mapping, root = args
    directory = Path(root) / model_type
    facts: dict[str, Any] = {"model_type": model_type, "class": cls_name, "mapping": mapping}
    t0 = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        facts.update(_build(model_type, cls_name, directory))
    except BaseException as exc:
        facts["built"] = False
        facts["error"] = _first_line(exc)
        facts["traceback"] = traceback.format_exc().splitlines()[-6:]
    finally:
        signal.alarm(0)
    facts["seconds"] = round(time.perf_counter() - t0, 2)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "zoo.json").write_text(json.dumps(facts, indent=1))
    return facts


def _build(model_type: str, cls_name: str, directory: Path) -> dict[str, Any]:
    import torch
    import transformers

    cls = getattr(transformers, cls_name)
    config = tiny_config(model_type, cls)
    torch.manual_seed(SEED)
    model = cls(config).eval()
    out: dict[str, Any] = {"built": True}
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    rows = int(table_weight(model)[1].shape[0])
    tok, kind = tokenizer_for(rows)
    out["tokenizer"] = kind
    if tok is not None:
        # tokenizer.json and a tokenizer_config.json naming the generic fast class: without
        # it AutoTokenizer picks the family's own class (AlbertTokenizer, T5Tokenizer...),
        # which cannot read a BPE tokenizer.json; real checkpoints ship a matching one.
        fast_tokenizer(tok).save_pretrained(directory)
    out["is_encoder_decoder"] = bool(getattr(model.config, "is_encoder_decoder", False))
    try:
        out.update(model_facts(model, directory))
    except Exception as exc:
        out["facts_error"] = _first_line(exc)
        out["traceback"] = traceback.format_exc().splitlines()[-6:]
        return out
    # The checkpoint as a user loads it: the same class, then AutoModel (what embcli runs).
    try:
        reloaded = cls.from_pretrained(directory, dtype=torch.float32).eval()
    except Exception as exc:
        out["reload_error"] = _first_line(exc)
        out["forward"] = [{"side": "plain", "runs": False, "error": out["reload_error"]}]
        return out
    out["reload_max_diff"] = max(
        float((a.float() - b.float()).abs().max()) if a.shape == b.shape else math.inf
        for a, b in zip(model.state_dict().values(), reloaded.state_dict().values(), strict=False)
    )
    try:
        auto = transformers.AutoModel.from_pretrained(directory, dtype=torch.float32)
        out["auto_model"] = type(auto).__name__
        del auto
    except Exception as exc:
        out["auto_model"] = None
        out["auto_model_error"] = _first_line(exc)
    if tok is None:
        out["forward"] = []
        return out
    fast = fast_tokenizer(tok)
    sides = ["encoder", "decoder"] if out["is_encoder_decoder"] else ["plain"]
    out["forward"] = []
    for side in sides:
        try:
            out["forward"].append(forward_facts(reloaded, fast, side))
        except Exception as exc:
            out["forward"].append({"side": side, "runs": None, "error": "zoo: " + _first_line(exc)})
    return out


def build(
    root: Path, only: list[str] | None = None, jobs: int = 2, quiet: bool = False
) -> list[dict[str, Any]]:
    """Build every architecture (or ``only`` these model types) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    todo = [(t, c, m, str(root)) for t, c, m in architectures() if not only or t in only]
    results = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(jobs, initializer=_init_worker, maxtasksperchild=25) as pool:
        for facts in pool.imap_unordered(build_one, todo):
            ok = "built" if facts.get("built") else f"FAILED {facts.get('error')}"
            if not quiet:
                print(f"{facts['model_type']:<28} {facts['seconds']:>6.1f}s  {ok}", flush=True)
            results.append(facts)
    return sorted(results, key=lambda f: f["model_type"])


def _init_worker() -> None:
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    import torch
    import transformers

    torch.set_num_threads(1)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# --------------------------------------------------------------------------------------------
# embcli against the facts


def run_embcli(*args: str) -> dict[str, Any]:
    """Run the embcli CLI in this process: exit code, stdout (parsed when JSON), stderr."""
    from embcli.cli.main import main as embcli_main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            embcli_main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            code = -1
            err.write(f"uncaught {_first_line(exc)}")
    text = out.getvalue()
    try:
        parsed = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        parsed = None
    lines = [s for s in err.getvalue().splitlines() if s.strip()]
    return {"code": code, "json": parsed, "stderr": lines[-6:]}


def embcli_answers(args: tuple[str, str]) -> dict[str, Any]:
    """embcli's info, info --table output, size and context on one zoo checkpoint."""
    model_type, root = args
    directory = Path(root) / model_type
    import tempfile

    with tempfile.TemporaryDirectory(prefix="zoo-cache-") as cache:
        os.environ["EMBCLI_CACHE"] = cache
        os.environ["HF_HUB_OFFLINE"] = "1"
        m = str(directory)
        answers = {
            "info": run_embcli("info", "-m", m, "-f", "json"),
            "head": run_embcli("info", "-m", m, "-f", "json", "--table", "output"),
            "target": run_embcli("info", "-m", m, "-f", "json", "--table", "target"),
            "size": run_embcli("size", m, "-f", "json", "--offline"),
        }
        facts = json.loads((directory / "zoo.json").read_text())
        if (directory / "tokenizer.json").is_file():
            answers["context"] = run_embcli(
                "context", WORD, *SENTENCES, "-m", m, "-f", "json", "-k", "0"
            )
            if facts.get("is_encoder_decoder"):
                answers["context_decoder"] = run_embcli(
                    "context", WORD, *SENTENCES, "-m", m, "-f", "json", "-k", "0",
                    "--side", "decoder",
                )  # fmt: skip
    for a in answers.values():
        j = a.get("json")
        if isinstance(j, dict):  # keep what the comparison reads, not the samples
            j.pop("sample_tokens", None)
            j.pop("identity", None)
            j.pop("cache_path", None)
    return {"model_type": model_type, **answers}


def _err(answer: dict[str, Any]) -> str:
    text = " ".join(answer.get("stderr") or []) or f"exit {answer.get('code')}"
    return text.removeprefix("embcli: ")


def judge(facts: dict[str, Any], answers: dict[str, Any]) -> dict[str, str]:
    """What embcli gets wrong about one architecture: {check: reason}; empty when all agree."""
    wrong: dict[str, str] = {}
    table = facts["table"]
    head = facts.get("head")
    rows, width = table["shape"]
    info = answers["info"]
    j = info.get("json") if info["code"] == 0 else None
    if j is None:
        wrong["table"] = "not found: " + _err(info)
    else:
        if j.get("tensor") not in table["stored"]:
            wrong["table"] = f"wrong tensor {j.get('tensor')} (expected {table['stored']})"
        elif [j.get("rows"), j.get("dim")] != [rows, width]:
            wrong["table"] = f"shape {j.get('rows')}x{j.get('dim')} (expected {rows}x{width})"
        expected_tied = None if head is None else head["tied"]
        if expected_tied is not None and j.get("tied") != expected_tied:
            wrong["tied"] = f"says tied={j.get('tied')}, transformers ties={expected_tied}"
    h = answers["head"]
    hj = h.get("json") if h["code"] == 0 else None
    if head is None:
        if hj is not None and hj.get("table") == "output":
            wrong["head"] = f"answers with {hj.get('tensor')}, but the model has no output head"
    elif head["tied"]:
        if hj is None:
            wrong["head"] = "tied head: " + _err(h)
        elif hj.get("tensor") not in table["stored"]:
            wrong["head"] = f"tied head answered by {hj.get('tensor')}"
    else:
        if hj is None:
            wrong["head"] = "untied head: " + _err(h)
        elif hj.get("table") != "output" or hj.get("tensor") not in head["stored"]:
            wrong["head"] = (
                f"untied head answered by {hj.get('table')} table {hj.get('tensor')} "
                f"(expected {head['stored']})"
            )
    size = answers["size"]
    sj = size.get("json") if size["code"] == 0 else None
    if sj is None:
        wrong["size"] = "fails: " + _err(size)
    else:
        problems = []
        if sj.get("table_params") != rows * width:
            problems.append(f"table {sj.get('table_params')} (expected {rows * width})")
        if head is not None:
            want = 0 if head["tied"] else head["shape"][0] * head["shape"][1]
            if sj.get("head_params") != want:
                problems.append(f"head {sj.get('head_params')} (expected {want})")
        if problems:
            wrong["size"] = "; ".join(problems)
        learned = [p for p in facts.get("positions", []) if p.get("learned", True)]
        got = sj.get("position_table")
        if learned:
            r, d = learned[0]["shape"]
            if not got or [got.get("rows"), got.get("dim")] != [r, d]:
                shown = f"{got.get('rows')}x{got.get('dim')}" if got else "none"
                wrong["positions"] = f"{shown} (expected {r}x{d})"
        elif got:
            wrong["positions"] = f"{got.get('rows')}x{got.get('dim')} (expected none)"
    target = facts.get("target")
    tj = answers.get("target", {})
    if target is not None:
        got = tj.get("json") if tj.get("code") == 0 else None
        if got is None:
            wrong["target"] = "decoder table not read: " + _err(tj)
        elif got.get("tensor") not in target["stored"]:
            wrong["target"] = (
                f"target answered by {got.get('tensor')} (expected {target['stored']})"
            )
    elif tj and tj.get("code") != 2:
        wrong["target"] = (
            f"no decoder table of its own, but --table target gives exit {tj.get('code')}"
        )
    forward = facts.get("forward") or []
    for key, expected in zip(("context", "context_decoder"), forward, strict=False):
        answer = answers.get(key)
        if answer is None:
            continue
        if key == "context_decoder" and target and target["shape"][0] != rows:
            # The decoder reads another vocabulary (FSMT): the sentence's ids mean nothing to
            # it, so --side decoder is refused in one line.
            lines = answer.get("stderr") or []
            if answer["code"] != 2 or len(lines) != 1:
                wrong[key] = f"decoder of another vocabulary, not refused: {_err(answer)}"
            continue
        problem = judge_context(expected, answer)
        if problem:
            wrong[key] = problem
    return wrong


#: How far embcli's cosines may be from those of transformers' own hidden states.
CONTEXT_TOLERANCE = 1e-5


def judge_context(expected: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """What is wrong with one ``context`` answer, given transformers' run of the same side.

    Where transformers runs, the word's cosine at every layer with per-token states must equal
    the reference (each sentence run alone) within :data:`CONTEXT_TOLERANCE`; where it fails,
    embcli must say so in one line (exit 5), never "internal error".
    """
    got = answer.get("json") if answer["code"] == 0 else None
    if not expected.get("runs"):
        if got is not None:
            return None  # embcli runs a model transformers' plain call cannot: not a fault
        lines = answer.get("stderr") or []
        if answer["code"] not in (2, 5) or len(lines) != 1 or "internal error" in lines[0]:
            return f"fails (transformers fails too) without one clear line: {_err(answer)}"
        return None
    want = {i: c for i, c in enumerate(expected.get("word_cosines") or []) if c is not None}
    if not want:  # transformers runs, but no layer holds a vector per token
        lines = answer.get("stderr") or []
        if got is not None or answer["code"] != 2 or len(lines) != 1:
            return f"no per-token layers, but not refused in one line: {_err(answer)}"
        return None
    if got is None:
        return "fails (transformers runs): " + _err(answer)
    have = {ly["layer"]: ly["pairs"][0]["cosine"] for ly in got.get("layers", [])}
    if sorted(have) != sorted(want):
        return f"layers {sorted(have)} (expected {sorted(want)})"
    worst = max((abs(have[i] - want[i]) for i in want), default=0.0)
    if worst > CONTEXT_TOLERANCE:
        return f"cosines differ by {worst:.3g} from each sentence alone"
    return None


def judged(root: Path, only: list[str] | None = None, jobs: int = 2) -> list[dict[str, Any]]:
    """The facts of every architecture built under ``root``, each with embcli's answers
    (``embcli``) and what they get wrong (``wrong``: {check: reason}, empty when all agree)."""
    facts = []
    for f in sorted(root.glob("*/zoo.json")):
        entry = json.loads(f.read_text())
        if only and entry["model_type"] not in only:
            continue
        facts.append(entry)
    built = [f for f in facts if f.get("built")]
    todo = [(f["model_type"], str(root)) for f in built]
    answers: dict[str, dict[str, Any]] = {}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(jobs, initializer=_init_worker, maxtasksperchild=25) as pool:
        for a in pool.imap_unordered(embcli_answers, todo):
            answers[a["model_type"]] = a
    for f in built:
        f["embcli"] = answers[f["model_type"]]
        f["wrong"] = judge(f, f["embcli"])
    return facts


def report(
    root: Path,
    only: list[str] | None,
    jobs: int,
    json_path: Path | None,
    md_path: Path | None,
    compact_path: Path | None = None,
) -> int:
    """Compare embcli with the facts of every built architecture; print and write a report."""
    facts = judged(root, only, jobs)
    text = render(facts)
    print(text)
    if md_path:
        md_path.write_text(text)
    if json_path:
        json_path.write_text(json.dumps(facts, indent=1))
    if compact_path:
        lines = [json.dumps(c, separators=(",", ":")) for c in compact(facts)]
        compact_path.write_text("[\n" + ",\n".join(lines) + "\n]\n")  # one type a line
    return 0


def compact(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The facts a family table needs, without embcli's raw answers or cosines (small)."""
    out = []
    for f in facts:
        c: dict[str, Any] = {k: f.get(k) for k in ("model_type", "class", "built")}
        if not f.get("built"):
            c["error"] = f.get("error")
            out.append(c)
            continue
        t, h = f["table"], f.get("head")
        c["table"] = {"stored": t["stored"], "shape": t["shape"], "tables": t.get("tables", 1)}
        c["head"] = (
            None
            if h is None
            else {"tied": h["tied"], "stored": h["stored"], "shape": h["shape"], "bias": h["bias"]}
        )
        for k in ("tie_flags", "tie_flags_saved", "vocab_fields", "width_fields", "hidden"):
            c[k] = f.get(k)
        c["scaled"] = f["scale"]["embed_scale"] or (
            f["scale"]["module_ratio"] if f["scale"]["scaled"] else None
        )
        c["projection"] = f.get("projection")
        c["positions"] = [
            {"stored": p["stored"], "shape": p["shape"]}
            for p in f.get("positions", [])
            if p.get("learned", True)
        ]
        c["tokenizer"] = f.get("tokenizer")
        c["auto_model"] = f.get("auto_model") or f.get("auto_model_error")
        c["forward"] = [
            {
                k: x.get(k)
                for k in ("side", "runs", "needs", "error", "layers", "widths", "hidden_shapes")
                if x.get(k) is not None
            }
            | (
                {"mask_honoured": x["mask_honoured"], "padded_max_diff": x["padded_max_diff"]}
                if "mask_honoured" in x
                else {}
            )
            for x in f.get("forward") or []
        ]
        if "wrong" in f:
            c["embcli_wrong"] = f["wrong"]
        out.append(c)
    return out


def summary(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts the issue states, from the facts and embcli's answers."""
    built = [f for f in facts if f.get("built")]
    with_head = [f for f in built if f.get("head") is not None]
    tied = [f for f in with_head if f["head"]["tied"]]
    untied = [f for f in with_head if not f["head"]["tied"]]
    runnable = [f for f in built if f.get("forward") and f["forward"][0].get("runs")]
    ctx_fail = [
        f for f in built if "context" in f.get("wrong", {}) and "fails" in f["wrong"]["context"]
    ]
    return {
        "tried": len(facts),
        "built": len(built),
        "no_head": len(built) - len(with_head),
        "tied": len(tied),
        "untied": len(untied),
        "table_not_found": sum(
            1 for f in built if f.get("wrong", {}).get("table", "").startswith("not found")
        ),
        "table_wrong": sum(1 for f in built if "table" in f.get("wrong", {})),
        "head_wrong": sum(1 for f in with_head if "head" in f.get("wrong", {})),
        "head_wrong_tied": sum(1 for f in tied if "head" in f.get("wrong", {})),
        "head_wrong_untied": sum(1 for f in untied if "head" in f.get("wrong", {})),
        "tied_wrong": sum(1 for f in built if "tied" in f.get("wrong", {})),
        "size_wrong": sum(1 for f in built if "size" in f.get("wrong", {})),
        "positions_wrong": sum(1 for f in built if "positions" in f.get("wrong", {})),
        "table_head_tied_size_right": sum(
            1 for f in built if not {"table", "head", "tied", "size"} & set(f.get("wrong", {}))
        ),
        "forward_runs": len(runnable),
        "no_tokenizer": sum(1 for f in built if not f.get("forward")),
        "context_fails": len(ctx_fail),
        "context_fails_transformers_runs": sum(
            1 for f in ctx_fail if "transformers runs" in f["wrong"]["context"]
        ),
        "context_internal_error": sum(
            1 for f in ctx_fail if "internal error" in f["wrong"]["context"]
        ),
        "context_numbers_wrong": sum(
            1
            for f in built
            if "context" in f.get("wrong", {}) and "fails" not in f["wrong"]["context"]
        ),
        "mask_ignored": sorted(
            f["model_type"] for f in runnable if f["forward"][0].get("mask_honoured") is False
        ),
        "all_right": sum(1 for f in built if not f.get("wrong")),
        "build_seconds_sum": round(sum(f.get("seconds", 0) for f in facts)),
    }


def _cause(text: str) -> str:
    """A failure's message without its model-specific parts, to group alike failures."""
    import re

    text = re.sub(r"/\S+", "DIR", text)
    text = re.sub(r"\d[\d,]*", "N", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\([^)]*\)$", "", text)
    return text[:110]


def render(facts: list[dict[str, Any]]) -> str:
    """Counts, failures grouped by check and cause, then one line per architecture."""
    s = summary(facts)
    out = ["## Counts", ""]
    out += [f"- {k}: {v}" for k, v in s.items()]
    failed = [f for f in facts if not f.get("built")]
    out += ["", f"## Not built ({len(failed)})", ""]
    out += [f"- `{f['model_type']}` ({f['class']}): {f.get('error')}" for f in failed]
    for check in (
        "table",
        "tied",
        "head",
        "size",
        "positions",
        "target",
        "context",
        "context_decoder",
    ):
        groups: dict[str, list[str]] = defaultdict(list)
        for f in facts:
            reason = f.get("wrong", {}).get(check)
            if reason:
                groups[_cause(reason)].append(f["model_type"])
        total = sum(len(v) for v in groups.values())
        out += ["", f"## {check}: {total} wrong", ""]
        for cause, types in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            out.append(f"- ({len(types)}) {cause}: {', '.join(types)}")
    out += ["", "## Per architecture", ""]
    columns = ("type", "class", "table (stored)", "head", "scaled", "proj", "positions")
    out.append("| " + " | ".join((*columns, "forward", "embcli wrong")) + " |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in facts:
        if not f.get("built"):
            continue
        t = f["table"]
        h = f.get("head")
        head = (
            "none"
            if h is None
            else "tied"
            if h["tied"]
            else f"{','.join(h['stored']) or '?'} {h['shape']}"
        )
        fw = f.get("forward") or []
        fwd = (
            "; ".join(
                (f"{x['side']}: " if x["side"] != "plain" else "")
                + (
                    (
                        "runs"
                        + ("" if x.get("equal_widths") else f" widths {x.get('widths')}")
                        + ("" if x.get("mask_honoured", True) else " MASK IGNORED")
                    )
                    if x.get("runs")
                    else f"fails {x.get('error', '')[:60]}"
                )
                for x in fw
            )
            or "no tokenizer"
        )
        pos = ", ".join(
            f"{p['shape'][0]}x{p['shape'][1]}"
            for p in f.get("positions", [])
            if p.get("learned", True)
        )
        scaled = (
            f"x{next(iter(f['scale']['embed_scale'].values())):g}"
            if f["scale"]["embed_scale"]
            else ("module" if f["scale"]["scaled"] else "")
        )
        wrong = "; ".join(f"{k}: {v[:70]}" for k, v in f.get("wrong", {}).items())
        out.append(
            f"| {f['model_type']} | {f['class']} | {','.join(t['stored']) or '?'} {t['shape']} "
            f"| {head} | {scaled} | {','.join(f.get('projection') or [])} | {pos} | {fwd} "
            f"| {wrong} |"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the zoo's checkpoints and their facts")
    b.add_argument("directory", type=Path)
    b.add_argument("--only", help="comma-separated model types")
    b.add_argument("--jobs", type=int, default=2)
    r = sub.add_parser("report", help="compare embcli with the facts")
    r.add_argument("directory", type=Path)
    r.add_argument("--only", help="comma-separated model types")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--json", type=Path, help="write the facts and embcli's answers here")
    r.add_argument("--markdown", type=Path, help="write the readable report here")
    r.add_argument("--compact", type=Path, help="write the compact facts (tests/data) here")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    t0 = time.perf_counter()
    if args.command == "build":
        results = build(args.directory, only, args.jobs)
        built = sum(1 for f in results if f.get("built"))
        print(f"built {built} of {len(results)} in {time.perf_counter() - t0:.0f} s")
        return 0
    return report(args.directory, only, args.jobs, args.json, args.markdown, args.compact)


if __name__ == "__main__":
    sys.exit(main())
