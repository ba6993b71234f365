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

#: Where embcli's records and transformers 5.x disagree today; issue 19 corrects the family
#: knowledge. Listed so that a correction (or a new disagreement) makes this test say so.
KNOWN_TIE_DISAGREEMENTS = {"mamba", "falcon_mamba"}  # their config classes tie by default
KNOWN_POSITION_ROW_DISAGREEMENTS = {"opt"}  # OPT's learned table has 2 offset rows


def _config(model_type: str, **overrides):
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return transformers.AutoConfig.for_model(model_type, **overrides)
        except ValueError:  # a family transformers only knows as remote code (internlm2)
            return None


def _meta_model(config):
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        return AutoModel.from_config(config)


def test_tying_defaults_are_the_config_classes():
    disagree = set()
    checked = 0
    for model_type, family in families.FAMILIES.items():
        config = _config(model_type)
        if config is None:
            continue
        checked += 1
        if bool(config.tie_word_embeddings) != family.tied:
            disagree.add(model_type)
    assert checked >= 40
    assert disagree == KNOWN_TIE_DISAGREEMENTS


@pytest.mark.parametrize(
    "model_type",
    sorted(t for t, f in families.FAMILIES.items() if f.position_table is not None),
)
def test_learned_position_tables_are_where_the_family_says(model_type):
    config = _config(model_type)
    key, suffix = families.family(model_type).position_table
    shapes = {n: tuple(p.shape) for n, p in _meta_model(config).named_parameters()}
    found = [n for n in shapes if n == suffix or n.endswith("." + suffix)]
    assert len(found) == 1, sorted(shapes)
    rows_agree = shapes[found[0]][0] == getattr(config, key)
    assert rows_agree == (model_type not in KNOWN_POSITION_ROW_DISAGREEMENTS)
    raw = {**config.to_dict(), "model_type": model_type}
    assert ModelFacts.from_dict(raw).position_table() == (getattr(config, key), suffix)


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
