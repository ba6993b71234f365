"""Built-in catalog of well-known models for ``embcli size``, usable offline.

Each entry copies the fields that decide the embedding table's size from the config it cites
(``source``), so a test can rebuild the figures from the same fields. Parameter totals were
computed by building that config on PyTorch's meta device with transformers 5.23 (no weights,
no memory), tied tensors counted once; ``params_note`` says where a published figure differs.
Active parameters of mixture-of-experts models: total minus the routed experts not used per
token, ``experts x (1 - experts_per_token / experts)``.
"""

from __future__ import annotations

from typing import Any

HF = "https://huggingface.co/{}/blob/main/config.json"


def _gpt2(repo: str, d: int, layers: int, heads: int, total: int) -> dict[str, Any]:
    return {
        "hub_id": repo,
        "source": HF.format(repo),
        "dtype": "float32",
        "config": {
            "model_type": "gpt2",
            "vocab_size": 50257,
            "n_embd": d,
            "n_layer": layers,
            "n_head": heads,
            "n_positions": 1024,
        },
        "params_total": total,
    }


def _llama(
    repo: str,
    v: int,
    d: int,
    ff: int,
    layers: int,
    heads: int,
    kv: int,
    total: int,
    model_type: str = "llama",
    **extra: Any,
) -> dict[str, Any]:
    cfg = {
        "model_type": model_type,
        "vocab_size": v,
        "hidden_size": d,
        "intermediate_size": ff,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "tie_word_embeddings": False,
        **extra,
    }
    return {
        "hub_id": repo,
        "source": HF.format(repo),
        "dtype": "bfloat16",
        "config": cfg,
        "params_total": total,
    }


def _llama4(
    repo: str, experts: int, moe_every: int, total: int, active: int, published: str
) -> dict[str, Any]:
    """Llama 4: a multimodal config whose language part is nested in ``text_config``."""
    text = {
        "model_type": "llama4_text",
        "vocab_size": 202048,
        "hidden_size": 5120,
        "intermediate_size": 8192,
        "intermediate_size_mlp": 16384,
        "num_hidden_layers": 48,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "num_local_experts": experts,
        "num_experts_per_tok": 1,
        "interleave_moe_layer_step": moe_every,
    }
    return {
        "hub_id": repo,
        "source": HF.format(repo),
        "dtype": "bfloat16",
        "config": {"model_type": "llama4", "tie_word_embeddings": False, "text_config": text},
        "params_total": total,
        "params_active": active,
        "params_note": f"text model; {published}",
    }


CATALOG: dict[str, dict[str, Any]] = {
    "gpt2": _gpt2("openai-community/gpt2", 768, 12, 12, 124_439_808),
    "gpt2-medium": _gpt2("openai-community/gpt2-medium", 1024, 24, 16, 354_823_168),
    "gpt2-large": _gpt2("openai-community/gpt2-large", 1280, 36, 20, 774_030_080),
    "gpt2-xl": _gpt2("openai-community/gpt2-xl", 1600, 48, 25, 1_557_611_200),
    "gpt3-175b": {
        "hub_id": None,
        "source": "Brown et al. 2020, Language Models are Few-Shot Learners, Table 2.1 "
        "(arXiv:2005.14165); BPE vocabulary of GPT-2",
        "dtype": "float16",
        "config": {
            "model_type": "gpt2",
            "vocab_size": 50257,
            "n_embd": 12288,
            "n_layer": 96,
            "n_head": 96,
            "n_positions": 2048,
        },
        "params_total": 175_000_000_000,
        "params_note": "the paper's rounded figure (not on the Hub)",
    },
    "bert-base-uncased": {
        "hub_id": "google-bert/bert-base-uncased",
        "source": HF.format("google-bert/bert-base-uncased"),
        "dtype": "float32",
        "config": {
            "model_type": "bert",
            "vocab_size": 30522,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
        },
        "params_total": 109_482_240,
        "params_note": "BertModel with pooler; the checkpoint also holds the MLM head",
    },
    "mistral-7b": _llama(
        "mistralai/Mistral-7B-v0.1", 32000, 4096, 14336, 32, 32, 8, 7_241_732_096, "mistral"
    ),
    "mixtral-8x7b": {
        **_llama(
            "mistralai/Mixtral-8x7B-v0.1",
            32000,
            4096,
            14336,
            32,
            32,
            8,
            46_702_792_704,
            "mixtral",
            num_local_experts=8,
            num_experts_per_tok=2,
        ),
        "params_active": 12_879_925_248,
    },
    "llama-2-7b": _llama("meta-llama/Llama-2-7b-hf", 32000, 4096, 11008, 32, 32, 32, 6_738_415_616),
    "llama-3.1-8b": _llama(
        "meta-llama/Llama-3.1-8B", 128256, 4096, 14336, 32, 32, 8, 8_030_261_248
    ),
    "llama-3.1-70b": _llama(
        "meta-llama/Llama-3.1-70B", 128256, 8192, 28672, 80, 64, 8, 70_553_706_496
    ),
    "llama-3.1-405b": _llama(
        "meta-llama/Llama-3.1-405B", 128256, 16384, 53248, 126, 128, 8, 405_853_388_800
    ),
    "llama-4-scout": _llama4(
        "meta-llama/Llama-4-Scout-17B-16E",
        16,
        1,
        107_769_861_120,
        17_172_894_720,
        "Meta's 109B includes the vision encoder",
    ),
    "llama-4-maverick": _llama4(
        "meta-llama/Llama-4-Maverick-17B-128E",
        128,
        2,
        400_711_848_960,
        17_184_691_200,
        "Meta's 400B includes the vision encoder",
    ),
    "qwen2.5-7b": _llama("Qwen/Qwen2.5-7B", 152064, 3584, 18944, 28, 28, 4, 7_615_616_512, "qwen2"),
    "gemma-2-9b": {
        **_llama(
            "google/gemma-2-9b",
            256000,
            3584,
            14336,
            42,
            16,
            8,
            9_241_705_984,
            "gemma2",
            head_dim=256,
        ),
        "params_note": "tied: the output head reuses the table",
    },
    "deepseek-v3": {
        **_llama(
            "deepseek-ai/DeepSeek-V3",
            129280,
            7168,
            18432,
            61,
            128,
            128,
            671_026_404_352,
            "deepseek_v3",
            moe_intermediate_size=2048,
            n_routed_experts=256,
            n_shared_experts=1,
            num_experts_per_tok=8,
            first_k_dense_replace=3,
            q_lora_rank=1536,
            kv_lora_rank=512,
            qk_rope_head_dim=64,
            v_head_dim=128,
            qk_nope_head_dim=128,
            n_group=8,
            topk_group=4,
        ),
        "params_active": 37_552_282_624,
        "params_note": "without the 14B multi-token-prediction module (685B checkpoint)",
    },
}
CATALOG["gemma-2-9b"]["config"]["tie_word_embeddings"] = True

#: Other spellings that find an entry: Hub ids and common short names.
ALIASES = {e["hub_id"].lower(): k for k, e in CATALOG.items() if e["hub_id"]} | {
    "gpt3": "gpt3-175b",
    "gpt-3": "gpt3-175b",
    "bert-base": "bert-base-uncased",
    "mistral-7b-v0.1": "mistral-7b",
    "mixtral-8x7b-v0.1": "mixtral-8x7b",
    "llama-3.1-8b-instruct": "llama-3.1-8b",
    "meta-llama/llama-3.1-8b-instruct": "llama-3.1-8b",
    "llama-4-scout-17b-16e": "llama-4-scout",
    "llama-4-maverick-17b-128e": "llama-4-maverick",
    "qwen2.5-7b-instruct": "qwen2.5-7b",
    "gemma-2-9b-it": "gemma-2-9b",
}


def lookup(name: str) -> tuple[str, dict[str, Any]] | None:
    """The catalog entry for a name, Hub id or alias (case-insensitive), or None."""
    key = name.lower()
    key = key if key in CATALOG else ALIASES.get(key, key)
    return (key, CATALOG[key]) if key in CATALOG else None
