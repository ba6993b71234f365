"""A model built on PyTorch's meta device from its config alone: its parameter count for
``embcli size`` when no header states it (no memory, no weights)."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from embcli.ask.sizing import count_from_shapes
from embcli.read import families
from embcli.read.facts import ModelFacts


def count_meta_device(cfg: ModelFacts) -> tuple[int, int] | None:
    """(total, routed-expert) parameters of the model ``cfg`` describes, built on the meta
    device. Uses only built-in architectures (never remote code); None when the architecture
    cannot be built from the config alone."""
    raw = dict(cfg.raw)
    model_type = raw.pop("model_type", None)
    if not model_type:
        return None
    try:
        config = AutoConfig.for_model(model_type, **raw)
        with torch.device("meta"):
            if families.family(model_type).encoder:
                model = AutoModel.from_config(config)
            else:
                try:
                    model = AutoModelForCausalLM.from_config(config)
                except ValueError:
                    model = AutoModel.from_config(config)
    except Exception:
        return None
    seen: set[int] = set()
    shapes = []
    for name, p in model.named_parameters(remove_duplicate=True):
        if id(p) not in seen:
            seen.add(id(p))
            shapes.append((name, tuple(p.shape)))
    return count_from_shapes(shapes)
