"""embcli size: arithmetic against configs written here, MiniLM's header, and the catalog."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from embcli.ask import catalog, sizing
from embcli.read.facts import ModelFacts
from embcli.run.meta_model import count_meta_device

GPT2 = {
    "model_type": "gpt2",
    "vocab_size": 50257,
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "n_positions": 1024,
    "torch_dtype": "float32",
}
LLAMA = {
    "model_type": "llama",
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "rope_theta": 500000.0,
}
LLAMA4 = {
    "model_type": "llama4",
    "text_config": {
        "model_type": "llama4_text",
        "vocab_size": 202048,
        "hidden_size": 5120,
        "intermediate_size": 8192,
        "intermediate_size_mlp": 16384,
        "num_hidden_layers": 2,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "num_local_experts": 16,
        "num_experts_per_tok": 1,
        "interleave_moe_layer_step": 1,
    },
    "vision_config": {"hidden_size": 1408},
    "tie_word_embeddings": False,
}
BERT = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}


def size_json(cli, *args):
    res = cli("size", *args, "-f", "json")
    assert res.code == 0, res.err
    return json.loads(res.out)


def write(tmp_path, name, cfg):
    path = tmp_path / name / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cfg))
    return path


def test_gpt2_config_file(cli, tmp_path):
    r = size_json(cli, write(tmp_path, "gpt2", GPT2))
    assert r["config_from"] == "local"
    assert (r["vocab_size"], r["dim"], r["table_params"]) == (50257, 768, 50257 * 768)
    assert r["bytes"] == {
        "float32": 50257 * 768 * 4,
        "float16": 50257 * 768 * 2,
        "bfloat16": 50257 * 768 * 2,
        "int8": 50257 * 768,
        "int4": 50257 * 768 // 2,
    }
    assert r["tied"] is True and r["head_params"] == 0
    assert r["position_table"] == {"rows": 1024, "dim": 768, "params": 1024 * 768, "count": 1}
    assert r["checkpoint_dtype"] == "float32" and r["checkpoint_bytes"] == 50257 * 768 * 4
    # No weights beside the config: the total comes from building the model on the meta device.
    assert r["params_method"] == "meta-device model" and r["total_params"] == 124_439_808
    assert r["table_share"] == pytest.approx(50257 * 768 / 124_439_808)


def test_llama_untied_head_and_rotary(cli, tmp_path):
    r = size_json(cli, write(tmp_path, "llama", LLAMA))
    v, d = 128256, 4096
    assert r["tied"] is False and r["head_params"] == v * d
    assert r["table_and_head_params"] == 2 * v * d
    assert r["position_table"] is None and r["position_note"] == "none: rotary"
    assert r["checkpoint_bytes"] == v * d * 2
    assert r["total_params"] == 8_030_261_248


def test_llama4_nested_config_and_active_parameters(cli, tmp_path):
    r = size_json(cli, write(tmp_path, "l4", LLAMA4).parent)
    assert (r["vocab_size"], r["dim"]) == (202048, 5120)
    assert r["bytes"]["float16"] == 2 * 202048 * 5120  # 2.07 GB, the table
    assert r["tied"] is False
    assert r["total_params"] > r["active_params"] > 0


def test_bert_position_and_token_type_tables(cli, tmp_path):
    r = size_json(cli, write(tmp_path, "bert", BERT))
    assert r["position_table"] == {"rows": 512, "dim": 768, "params": 512 * 768, "count": 1}
    assert r["token_type_table"] == {"rows": 2, "dim": 768, "params": 2 * 768}
    assert r["total_params"] == 109_482_240


def test_real_minilm_with_total_from_safetensors_header(cli, minilm_dir):
    r = size_json(cli, minilm_dir)
    assert r["table_params"] == 11_720_448 == 30522 * 384
    with safe_open(str(minilm_dir / "model.safetensors"), "np") as f:
        total = sum(_prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    assert r["total_params"] == total and r["params_method"] == "safetensors headers"
    assert r["tokenizer_vocab_size"] == 30522 and r["padded_rows"] == 0


def _prod(xs):
    out = 1
    for x in xs:
        out *= x
    return out


def test_padded_table_reports_tokenizer_size(cli, model_dirs):
    r = size_json(cli, model_dirs["llama"])
    assert r["tokenizer_vocab_size"] < r["vocab_size"]
    assert r["padded_rows"] == r["vocab_size"] - r["tokenizer_vocab_size"]


def test_catalog_offline_reproduces_the_quoted_table(cli):
    rows = size_json(cli, "gpt2", "mistral-7b", "llama-4-maverick", "--offline")
    assert [r["model"] for r in rows] == ["gpt2", "mistral-7b", "llama-4-maverick"]
    assert [r["table_params"] for r in rows] == [38_597_376, 131_072_000, 1_034_485_760]
    assert [r["bytes"]["float16"] for r in rows] == [77_194_752, 262_144_000, 2_068_971_520]
    assert all(r["config_from"] == "catalog" for r in rows)
    text = cli("size", "gpt2", "mistral-7b", "llama-4-maverick", "--offline", "-f", "table").out
    assert "77.2 MB" in text and "262.1 MB" in text and "2.07 GB" in text
    mib = size_json(cli, "gpt2", "--offline", "--units", "MiB")
    assert mib["bytes"]["float16"] == 77_194_752  # JSON carries bytes, whatever the units


def test_hub_ids_find_catalog_entries_offline(cli):
    r = size_json(cli, "meta-llama/Llama-3.1-8B")  # HF_HUB_OFFLINE=1 in tests
    assert r["config_from"] == "catalog" and r["vocab_size"] == 128256
    assert "HF_HUB_OFFLINE" in r["note"]


def test_what_if(cli):
    r = size_json(cli, "--vocab", "256000", "--dim", "8192", "--dtype", "bf16")
    assert r["table_params"] == 2_097_152_000 and r["checkpoint_bytes"] == 4_194_304_000
    tsv = cli("size", "--vocab", "10", "--dim", "3", "--untied", "-f", "tsv").out.splitlines()
    header, row = tsv[0].split("\t"), tsv[1].split("\t")
    assert dict(zip(header, row, strict=True))["head_params"] == "30"


def test_unknown_model_offline_names_the_list_command(cli):
    res = cli("size", "nobody/nothing", "--offline")
    assert res.code == 1 and "embcli size --list" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_usage_errors(cli):
    assert cli("size").code == 2
    assert cli("size", "--vocab", "10").code == 2
    assert cli("size", "gpt2", "--dtype", "fp7").code == 2


def test_catalog_list(cli):
    listed = json.loads(cli("size", "--list", "-f", "json").out)
    names = {r["name"] for r in listed}
    for required in (
        "gpt2",
        "gpt2-medium",
        "gpt2-large",
        "gpt2-xl",
        "gpt3-175b",
        "bert-base-uncased",
        "mistral-7b",
        "mixtral-8x7b",
        "llama-2-7b",
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "llama-4-scout",
        "llama-4-maverick",
        "qwen2.5-7b",
        "gemma-2-9b",
        "deepseek-v3",
    ):
        assert required in names


@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_catalog_entry_has_a_source_and_its_figures_follow_from_its_config(name):
    entry = catalog.CATALOG[name]
    assert entry["source"].startswith("https://huggingface.co/") or "arXiv" in entry["source"]
    cfg = ModelFacts.from_dict(entry["config"])
    if name == "gpt3-175b":  # not on the Hub: the paper's rounded figure
        counted = count_meta_device(cfg)
        assert abs(counted[0] - entry["params_total"]) / entry["params_total"] < 0.005
        return
    total, experts = count_meta_device(cfg)
    assert total == entry["params_total"]
    assert sizing.active_params(cfg, total, experts) == entry.get("params_active")


@pytest.mark.parametrize(("units", "step", "big"), [("MiB", 2**30, "GiB"), ("MB", 10**9, "GB")])
def test_large_sizes_step_up_by_the_unit_systems_own_factor(units, step, big):
    """A GiB is 1,024 MiB (2^30 bytes), a GB 1,000 MB: the card's figures, from exact integers."""
    import embcli

    vocab, dim = 256_000, 8192
    rows = dict(embcli.size(vocab=vocab, dim=dim, units=units).view().rows)
    for name, width in (("float32", 4), ("float16/bfloat16", 2), ("int8", 1)):
        assert rows[name] == f"{vocab * dim * width / step:,.2f} {big}"
    small = dict(embcli.size(vocab=1000, dim=64, units=units).view().rows)
    unit = 2**20 if units == "MiB" else 10**6
    assert small["float32"] == f"{1000 * 64 * 4 / unit:,.1f} {units}"
