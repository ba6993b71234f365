"""Family knowledge (``embcli/read/families.py``) checked against transformers itself.

Each record claims something transformers decides: the config class's tying default, where a
learned position table lives and how many rows it has, whether the forward pass scales the
embedding rows. Models are built on PyTorch's meta device (no memory, no weights), so the
reference is the library's own modules, not a copy of its source.
"""

from __future__ import annotations

import math
import warnings

import pytest

from embcli.read import families
from embcli.read.facts import ModelFacts


def _config(model_type: str, **overrides):
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return transformers.AutoConfig.for_model(model_type, **overrides)
        except ValueError:  # a family transformers only knows as remote code (internlm2)
            return None


def _meta_model(config, suffix: str = ""):
    """The model on the meta device: the bare body, or the first LM class that holds a tensor
    ending in ``suffix`` (Perceiver keeps its token table in the masked-LM's preprocessor)."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    model = None
    for auto in (AutoModel, AutoModelForMaskedLM, AutoModelForCausalLM):
        try:
            with torch.device("meta"):
                model = auto.from_config(config)
        except ValueError:  # not in this auto mapping
            continue
        if any(n.endswith(suffix) for n, _ in model.named_parameters()):
            return model
    return model


def test_tying_defaults_are_the_config_classes():
    """``tied_by_default`` is each config class's default (False where it has no such field:
    transformers reads ``getattr(config, "tie_word_embeddings", False)``)."""
    disagree = set()
    checked = 0
    for model_type in sorted(set(families.FAMILIES) | families.UNTIED_BY_DEFAULT):
        try:
            config = _config(model_type)
        except Exception:  # a default config its class cannot build (qwen4_exp, 5.24)
            continue
        if config is None:
            continue
        checked += 1
        default = bool(getattr(config, "tie_word_embeddings", False))
        if default != families.tied_by_default(model_type):
            disagree.add(model_type)
    assert checked >= 150
    assert disagree == set()


@pytest.mark.parametrize(
    "model_type",
    sorted(t for t, f in families.FAMILIES.items() if f.position_table is not None),
)
def test_learned_position_tables_are_where_the_family_says(model_type):
    config = _config(model_type, **({"vocab_size": 33} if model_type == "esm" else {}))
    _, suffix = families.family(model_type).position_table
    shapes = {n: tuple(p.shape) for n, p in _meta_model(config, suffix).named_parameters()}
    found = [n for n in shapes if n == suffix or n.endswith("." + suffix)]
    assert found, sorted(shapes)
    raw = {**config.to_dict(), "model_type": model_type}
    facts = ModelFacts.from_dict(raw)
    assert facts.position_table() == (shapes[found[0]][0], suffix)
    assert facts.position_width == shapes[found[0]][1]


SMALL = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
             num_key_value_heads=1, head_dim=8, vocab_size=50)  # fmt: skip
BART = dict(d_model=16, vocab_size=50, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=2, decoder_attention_heads=2)  # fmt: skip


@pytest.mark.parametrize(
    ("model_type", "overrides"),
    [
        ("gemma", SMALL),
        ("gemma2", SMALL),
        ("gemma3_text", SMALL),
        ("llama", SMALL),
        ("gpt2", dict(n_embd=16, n_layer=1, n_head=2, vocab_size=50)),
        ("bart", {**BART, "scale_embedding": True}),
        ("bart", {**BART, "scale_embedding": False}),
    ],
)
def test_embedding_scale_is_what_the_forward_pass_applies(model_type, overrides):
    config = _config(model_type, **overrides)
    embeddings = _meta_model(config).get_input_embeddings()
    applied = getattr(embeddings, "scalar_embed_scale", None)  # Gemma's scaled embedding
    if applied is None and isinstance(getattr(embeddings, "embed_scale", None), float):
        applied = embeddings.embed_scale  # BART's
    facts = ModelFacts.from_dict({**config.to_dict(), "model_type": model_type})
    if applied is None or applied == 1.0:
        assert facts.embed_scale is None
    else:
        assert facts.embed_scale == pytest.approx(applied)
        assert facts.embed_scale == pytest.approx(math.sqrt(16))


def test_a_family_without_a_record_follows_the_common_case():
    facts = ModelFacts.from_dict({"model_type": "brand-new", "vocab_size": 5, "hidden_size": 4})
    assert facts.family == families.COMMON
    assert facts.tied is True and facts.embed_scale is None and facts.position_table() is None


#: Families whose table or head is not ``vocab x hidden``, with the class that owns the head.
ODD = {
    "albert": "AlbertForMaskedLM",  # factorised: embedding_size
    "mobilebert": "MobileBertForMaskedLM",  # factorised, 3 rows concatenated
    "rembert": "RemBertForMaskedLM",  # factorised; head output_embedding_size wide
    "reformer": "ReformerForMaskedLM",  # head twice as wide
    "cpmant": "CpmAntForCausalLM",  # prompt rows beyond the vocabulary
    "moshi": "MoshiForCausalLM",  # one row more
    "opt": "OPTForCausalLM",  # word_embed_proj_dim
    "xlm": "XLMWithLMHeadModel",  # emb_dim
    "fsmt": "FSMTForConditionalGeneration",  # two vocabularies
    "t5gemma": "T5GemmaForConditionalGeneration",  # nested encoder/decoder configs
    "luke": "LukeForMaskedLM",  # ties only its entity head
}


@pytest.mark.parametrize("model_type", sorted(ODD))
@pytest.mark.slow  # torch
def test_odd_tables_and_heads_have_the_shapes_transformers_builds(model_type):
    """Table rows and width, the untied head's shape, tying and the projection of a factorised
    table follow from the config exactly as transformers builds the model (meta device)."""
    import torch
    import transformers

    cls = getattr(transformers, ODD[model_type])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = cls.config_class()
        with torch.device("meta"):
            model = cls(config)
    facts = ModelFacts.from_dict({**config.to_dict(), "model_type": config.model_type})
    table = model.get_input_embeddings().weight
    assert (facts.table_rows, facts.hidden_size) == tuple(table.shape)
    head = model.get_output_embeddings()
    tied = head.weight is table
    assert facts.tied == tied
    if not tied:
        assert facts.head_shape == tuple(head.weight.shape)
    linear = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for p in facts.projections:
        found = [m for n, m in linear.items() if n.endswith(p["tensor"])]
        assert found and (found[0].in_features, found[0].out_features) == (p["from"], p["to"])
        bias = found[0].bias.numel() if found[0].bias is not None else 0
        assert p["params"] == found[0].weight.numel() + bias
    assert bool(facts.projections) == (facts.hidden_size != facts.model_width)
