"""Load a model to run: a local directory or a Hub snapshot of only what the forward pass needs.

From the Hub we download config, tokenizer files, safetensors weights and the
sentence-transformers description (``modules.json``, ``1_Pooling/``, ``sentence_bert_config.json``)
and nothing else: many repos also carry ``onnx/``, ``openvino/`` and pickled ``.bin`` copies that
would triple the download. Pickled weights are read only with ``--allow-pickle``; remote code is
never trusted. The model runs in float32 under ``torch.inference_mode()``.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from embcli.errors import EmbcliError, ModelFailure, UsageProblem
from embcli.read import families, hub, sources
from embcli.read.ref import ModelRef

#: What the forward pass and the sentence-transformers pipeline need, as snapshot patterns.
ALLOW = (
    *sources.SMALL_FILES,
    "sentencepiece.bpe.model",
    "*.safetensors",
    "modules.json",
    "1_Pooling/*",
    "sentence_bert_config.json",
)
PICKLE = ("pytorch_model.bin", "pytorch_model-*.bin")
#: Never fetched: other runtimes' copies, and weights below the repo root.
IGNORE = ("onnx/*", "openvino/*", "*/*.safetensors", "*.onnx", "*.h5", "*.msgpack", "*.ot")
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
VOCAB_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
FINAL_NORMS = ("ln_f", "norm", "final_layer_norm", "final_layernorm", "norm_f", "final_norm")


@dataclass
class Loaded:
    """A model ready to run, its tokenizer, and what was learnt about it while loading."""

    label: str
    directory: Path
    model: Any  # a transformers PreTrainedModel (with its LM head when it has one)
    tokenizer: Any
    device: torch.device
    causal: bool

    @property
    def model_type(self) -> str:
        return str(getattr(self.model.config, "model_type", "") or "")

    @property
    def family(self) -> families.Family:
        return families.family(self.model_type)

    @property
    def encoder_decoder(self) -> bool:
        """An encoder-decoder: its input table feeds the encoder (``get_encoder()``)."""
        return bool(getattr(self.model.config, "is_encoder_decoder", False)) and callable(
            getattr(self.model, "get_encoder", None)
        )

    @property
    def base(self) -> Any:
        """The transformer body (hidden states), without any head."""
        return getattr(self.model, "base_model", self.model)

    @property
    def head(self) -> Any | None:
        """The output projection to the vocabulary, if the loaded class has one."""
        return self.model.get_output_embeddings() if self.causal else None

    @property
    def final_norm(self) -> Any | None:
        """The norm the body applies after its last block (the logit lens applies it too)."""
        for name in FINAL_NORMS:
            mod = getattr(self.base, name, None)
            if isinstance(mod, torch.nn.Module):
                return mod
        return None

    @property
    def static_table(self) -> torch.Tensor:
        """The input embedding rows (before any position or layer): the first table of a
        per-codebook list (MusicGen)."""
        emb = self.model.get_input_embeddings()
        if isinstance(emb, torch.nn.ModuleList):
            emb = emb[0]
        weight = emb.weight if isinstance(emb, torch.nn.Module) else emb
        assert isinstance(weight, torch.Tensor)
        return weight

    @property
    def num_layers(self) -> int:
        cfg = self.model.config
        n = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None)
        return int(n) if n is not None else 0

    def limit(self) -> int:
        """The longest input: the tokenizer's limit capped by the model's positions."""
        tok_max = int(getattr(self.tokenizer, "model_max_length", 0) or 0)
        cfg = self.model.config
        pos = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        # XLNet states -1 (no limit); tokenizers without a limit state 1e30.
        found = [n for n in (tok_max, pos) if isinstance(n, int) and 0 < n < 1_000_000]
        return min(found) if found else 512

    def special_ids(self) -> set[int]:
        return {int(i) for i in self.tokenizer.all_special_ids if i is not None}

    def accepts(self, argument: str, module: Any = None) -> bool:
        """True when the body's (or ``module``'s) forward names ``argument`` (``position_ids``)."""
        target = self.base if module is None else module
        return argument in inspect.signature(target.forward).parameters


def resolve_directory(spec: str, revision: str | None, allow_pickle: bool) -> tuple[Path, str]:
    """A local directory holding the model's files, and the label to show for it."""
    local = sources.resolve_local(ModelRef(spec))
    if local is not None:
        if isinstance(local, sources.GgufFiles):
            raise EmbcliError(
                f"{local.label} is a GGUF model, and running a model needs its float weights",
                "give the float model with -m: its Hugging Face repo or directory",
            )
        if not isinstance(local, sources.LocalDir):
            raise EmbcliError(f"{spec} is a word-vector file: no model to run")
        return local.directory, local.label
    patterns = [*ALLOW, *(PICKLE if allow_pickle else ())]
    ignore = [*IGNORE, *(() if allow_pickle else ("*.bin",))]
    path = hub.snapshot(spec, revision, patterns, ignore, bars=sys.stderr.isatty())
    if not (Path(path) / "config.json").is_file():
        info = hub.model_info(spec, revision)
        if any(s.rfilename.lower().endswith(".gguf") for s in info.siblings or []):
            raise EmbcliError(
                f"{spec} holds GGUF files, and running a model needs its float weights",
                "give the float model with -m: its Hugging Face repo or directory",
            )
    return Path(path), spec


def load(
    spec: str,
    revision: str | None = None,
    allow_pickle: bool = False,
    device: str = "cpu",
    with_head: bool = False,
    subfolder: str = "",
) -> Loaded:
    """Load ``spec`` (directory or repo id) in float32 on ``device``, in eval mode.

    ``with_head`` loads a causal LM with its output head when the config names one (for the
    logit lens); otherwise the bare body. ``subfolder`` is where the weights are when a
    sentence-transformers repo keeps them below its root.
    """
    directory, label = resolve_directory(spec, revision, allow_pickle)
    return load_directory(directory, label, allow_pickle, device, with_head, subfolder)


def load_directory(
    directory: Path,
    label: str,
    allow_pickle: bool = False,
    device: str = "cpu",
    with_head: bool = False,
    subfolder: str = "",
) -> Loaded:
    target = pick_device(device)
    where = directory / subfolder if subfolder else directory
    _quiet()
    _check_weights(where, label, allow_pickle)
    tokenizer = load_tokenizer(where, label)
    try:
        config = transformers.AutoConfig.from_pretrained(where, trust_remote_code=False)
    except Exception as exc:
        raise EmbcliError(f"cannot read the config of {label}: {first_line(exc)}") from None
    archs = getattr(config, "architectures", None) or []
    causal = with_head and any(a.endswith(CAUSAL_SUFFIXES) for a in archs)
    auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModel
    try:
        try:
            model = _from_pretrained(auto, where, allow_pickle)
        except ValueError as exc:
            if "Unrecognized configuration class" not in str(exc):
                raise
            # A config the auto mapping does not list (MllamaTextConfig, EncoderDecoderConfig):
            # the built-in class the checkpoint names.
            cls = _named_class(archs)
            if cls is None:
                raise
            model = _from_pretrained(cls, where, allow_pickle)
    except Exception as exc:
        kind = getattr(config, "model_type", "?")
        raise ModelFailure(
            f"transformers cannot load {label} ({kind}): {first_line(exc)}"
        ) from None
    # transformers wraps Module.to with functools.wraps, which mypy reads as unbound
    model.to(target).eval()  # type: ignore[arg-type]
    return Loaded(label, directory, model, tokenizer, target, causal)


#: What ``load_directory`` builds a model with: an auto class, or the class a config names.
ModelClass = (
    type[transformers.AutoModel]
    | type[transformers.AutoModelForCausalLM]
    | type[transformers.PreTrainedModel]
)


def _from_pretrained(cls: ModelClass, where: Path, allow_pickle: bool) -> Any:
    """``cls.from_pretrained`` with the options every load uses, spelled as keywords.

    Float32 weights from this directory alone; never remote code; safetensors only unless
    pickles are allowed (then transformers picks, and still unpickles with ``weights_only``).
    Explicit keywords, not a ``**dict``: transformers annotates these parameters, and a dict of
    mixed values cannot satisfy every one of them.
    """
    return cls.from_pretrained(
        where,
        dtype=torch.float32,
        trust_remote_code=False,
        local_files_only=True,
        use_safetensors=None if allow_pickle else True,
    )


def _named_class(archs: list[str]) -> type[transformers.PreTrainedModel] | None:
    """The first class ``config.architectures`` names that transformers itself defines."""
    for name in archs:
        cls = getattr(transformers, name, None)
        if isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel):
            return cls
    return None


def load_tokenizer(directory: Path, label: str) -> Any:
    """The model's fast tokenizer (offsets are needed to find words), with a pad token.

    transformers builds an empty tokenizer when a directory has no vocabulary file, so we
    check for one first rather than run a model on no tokens.
    """
    if not any((directory / name).is_file() for name in VOCAB_FILES):
        raise EmbcliError(
            f"{label} has no usable tokenizer (none of {', '.join(VOCAB_FILES)})",
            "a model to run needs its tokenizer files",
        )
    try:
        tok = transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
    except Exception as exc:
        raise EmbcliError(
            f"{label} has no usable tokenizer ({first_line(exc)})",
            "a model to run needs tokenizer.json or its tokenizer files",
        ) from None
    if not getattr(tok, "is_fast", False):
        raise EmbcliError(f"{label}: only a slow tokenizer is available; need tokenizer.json")
    if tok.pad_token is None:
        # Padded positions are masked out, so any token does; prefer end-of-text.
        tok.pad_token = tok.eos_token or tok.unk_token or tok.convert_ids_to_tokens(0)
    return tok


def pick_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageProblem("--device cuda: no CUDA device is available (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageProblem(f"unknown --device {name!r} (cpu, cuda, cuda:1, mps)") from None


def _check_weights(directory: Path, label: str, allow_pickle: bool) -> None:
    if not directory.is_dir():
        raise EmbcliError(f"{label}: no such directory {directory}")
    if any(directory.glob("*.safetensors")):
        return
    if any(directory.glob("*.bin")):
        if allow_pickle:
            return
        raise EmbcliError(
            f"{label} has only pickled .bin weights",
            "pass --allow-pickle if you trust it (unpickling runs code)",
        )
    raise EmbcliError(f"{label} has no weights (*.safetensors) to run")


def _quiet() -> None:
    """No weight-loading bars or config chatter from transformers on our stderr."""
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def first_line(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]
