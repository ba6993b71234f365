"""Finding the table by name and shape, for the common families and nested configs."""

from __future__ import annotations

import pytest

from embcli.errors import EmbcliError
from embcli.read.facts import ModelFacts
from embcli.read.locate import locate_embedding

V, D = 1000, 64

FAMILIES = {
    "gpt2": (
        ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight"],
        "transformer.wte.weight",
    ),
    "gpt2-bare": (["wte.weight", "wpe.weight"], "wte.weight"),
    "llama": (
        ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"],
        "model.embed_tokens.weight",
    ),
    "bert": (
        [
            "bert.embeddings.word_embeddings.weight",
            "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight",
        ],
        "bert.embeddings.word_embeddings.weight",
    ),
    "roberta": (
        ["roberta.embeddings.word_embeddings.weight", "lm_head.decoder.weight"],
        "roberta.embeddings.word_embeddings.weight",
    ),
    "neox": (["gpt_neox.embed_in.weight", "embed_out.weight"], "gpt_neox.embed_in.weight"),
    "t5": (
        ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "shared.weight"],
        "shared.weight",
    ),
    "opt": (
        ["model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight"],
        "model.decoder.embed_tokens.weight",
    ),
    "falcon": (
        ["transformer.word_embeddings.weight", "lm_head.weight"],
        "transformer.word_embeddings.weight",
    ),
    "phi-old": (
        ["transformer.embd.wte.weight", "lm_head.linear.weight"],
        "transformer.embd.wte.weight",
    ),
    "llama4": (
        [
            "vision_model.embed_tokens.weight",
            "language_model.model.embed_tokens.weight",
            "language_model.lm_head.weight",
        ],
        "language_model.model.embed_tokens.weight",
    ),
    "gemma3": (
        ["model.language_model.embed_tokens.weight", "model.vision_tower.embed_tokens.weight"],
        "model.language_model.embed_tokens.weight",
    ),
    "meta-layout": (["tok_embeddings.weight", "output.weight"], "tok_embeddings.weight"),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families(family):
    names, want = FAMILIES[family]

    def shape(n: str) -> tuple[int, ...]:
        if "position" in n or "wpe" in n:
            return (512, D)
        if "token_type" in n:
            return (2, D)
        return (V, D) if "weight" in n else (D,)

    assert locate_embedding(names, shape, V, [D]) == want


def test_shape_decides_between_name_matches():
    names = ["a.embed_tokens.weight", "b.embed_tokens.weight"]
    shapes = {"a.embed_tokens.weight": (V, 32), "b.embed_tokens.weight": (V, D)}
    assert locate_embedding(names, shapes.__getitem__, V, [D]) == "b.embed_tokens.weight"


def test_only_candidate_shapes_are_read():
    asked = []

    def shape(n):
        asked.append(n)
        return (V, D)

    names = ["model.embed_tokens.weight"] + [f"model.layers.{i}.mlp.weight" for i in range(50)]
    locate_embedding(names, shape, V, [D])
    assert asked == ["model.embed_tokens.weight"]


def test_nothing_fits():
    with pytest.raises(EmbcliError) as err:
        locate_embedding(["model.embed_tokens.weight"], lambda n: (V + 1, D), V, [D])
    assert "model.embed_tokens.weight [1001, 64]" in err.value.one_line()


def test_nested_text_config_llama4():
    raw = {
        "model_type": "llama4",
        "text_config": {"model_type": "llama4_text", "vocab_size": 202048, "hidden_size": 5120},
        "vision_config": {"hidden_size": 1408},
    }
    cfg = ModelFacts.from_dict(raw)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.text_path) == (202048, 5120, "text_config")
    assert cfg.tied is False  # llama4_text default


def test_family_spellings():
    assert ModelFacts.from_dict({"vocab_size": 5, "n_embd": 7}).hidden_size == 7
    assert ModelFacts.from_dict({"vocab_size": 5, "d_model": 8}).hidden_size == 8
    opt = ModelFacts.from_dict({"vocab_size": 5, "hidden_size": 1024, "word_embed_proj_dim": 512})
    assert opt.hidden_candidates == (512, 1024)
    gpt2 = ModelFacts.from_dict(
        {"model_type": "gpt2", "vocab_size": 5, "n_embd": 7, "n_positions": 9}
    )
    assert gpt2.tied is True and gpt2.position_table() == (9, "wpe.weight")
    llama = ModelFacts.from_dict({"model_type": "llama", "vocab_size": 5, "hidden_size": 8})
    assert llama.tied is False and llama.position_table() is None


def test_a_file_holding_one_fitting_tensor_is_its_table():
    assert locate_embedding(["embeddings"], lambda n: (V, D), V, [D]) == "embeddings"
    with pytest.raises(EmbcliError):  # one tensor, but not of the table's shape
        locate_embedding(["layer.weight"], lambda n: (D, D), V, [D])
