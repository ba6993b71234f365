"""Tiny models generated for the tests: real transformers checkpoints with trained tokenizers.

Each builder writes a Hugging Face model directory (config.json, weights, tokenizer.json) the way
``save_pretrained`` does, so embcli reads exactly what it would read from a real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CORPUS = [
    "The king and the queen live in Paris, the capital of France.",
    "A man and a woman walk to Berlin; the prince meets the princess.",
    "Cats and dogs are animals. Horses run, birds fly, fish swim.",
    "Red, green and blue are colours. Tokyo is in Japan, Rome in Italy.",
    "unbelievable defenestration tokenization embeddings vectors",
] * 4


def byte_level_tokenizer(vocab_size: int = 700):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def metaspace_tokenizer(vocab_size: int = 200):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def wordpiece_tokenizer(vocab_size: int = 200):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def gpt2(path: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = byte_level_tokenizer()
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=tok.get_vocab_size(), n_embd=32, n_layer=1, n_head=2, n_positions=64
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save(str(path / "tokenizer.json"))
    return path


def llama(path: Path, dtype: str = "bfloat16", pad_to: int = 64) -> Path:
    """A Llama with an untied head, stored in bf16, its table padded past the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = metaspace_tokenizer()
    vocab = -(-tok.get_vocab_size() // pad_to) * pad_to
    torch.manual_seed(1)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg).to(getattr(torch, dtype))
    model.save_pretrained(path)
    tok.save(str(path / "tokenizer.json"))
    return path


def bert(path: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    tok = wordpiece_tokenizer()
    torch.manual_seed(2)
    cfg = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).to(torch.float16).save_pretrained(path)
    tok.save(str(path / "tokenizer.json"))
    return path


def sharded_llama(path: Path) -> Path:
    """A Llama checkpoint in three shards with the embedding table in the second one."""
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = metaspace_tokenizer()
    torch.manual_seed(3)
    cfg = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    cfg.save_pretrained(path)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    emb = "model.embed_tokens.weight"
    rest = sorted(k for k in state if k != emb)
    shards = [rest[: len(rest) // 2], [emb], rest[len(rest) // 2 :]]
    weight_map = {}
    for i, names in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-00003.safetensors"
        save_file({k: state[k] for k in names}, str(path / fname), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(names, fname))
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    tok.save(str(path / "tokenizer.json"))
    return path


def planted(path: Path, words: list[str], vectors: np.ndarray, model_type: str = "llama") -> Path:
    """A model directory whose table is exactly ``vectors``, one whole-word token per row.

    The tokenizer is a WordLevel model over ``words`` split on whitespace (``words[0]`` is its
    unknown token), so each
    word is one token and its row is known: the geometry the tests plant is what embcli sees.
    """
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers

    path.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(path / "tokenizer.json"))
    cfg = {
        "model_type": model_type,
        "vocab_size": len(words),
        "hidden_size": vectors.shape[1],
        "tie_word_embeddings": True,
    }
    (path / "config.json").write_text(json.dumps(cfg))
    save_file(
        {"model.embed_tokens.weight": vectors.astype(np.float32)}, str(path / "model.safetensors")
    )
    return path


def training_run(
    root: Path,
    steps: list[int],
    rows: int = 600,
    seed: int = 7,
    bin_steps: tuple[int, ...] = (),
    reshaped: dict[int, int] | None = None,
    ballast: int = 0,
) -> tuple[list[Path], list[str], dict[int, np.ndarray]]:
    """Checkpoint directories ``checkpoint-<step>`` of a table learning a real one.

    Row 0 is ``<unk>`` (the tokenizer's unknown token), random and never trained. The other rows
    are GloVe's first ``rows`` words (ordered by frequency: "the", ",", ".", "of"...), whose
    50-d vectors are the target; at step 0 every row is random (at the scale of a real row).
    Word i moves to its target on a known schedule, frequent words first: at step s it is
    ``(1 - a) r_i + a g_i`` with ``a = min(1, s / T_i)`` and ``T_i = 10 * 2 ** (8 * i / rows)``
    (the first word learnt by step 10, the last by step 2,560). Steps in ``bin_steps`` are saved
    as ``pytorch_model.bin`` (``torch.save``, zip format), the others as ``model.safetensors``;
    ``reshaped[step] = n`` gives that checkpoint ``n`` more rows (a resized vocabulary);
    ``ballast`` rows of another tensor stand for the weights a history never reads.
    Returns the directories, the tokens (row order) and each step's float32 table.
    """
    from tests import glove

    words, target = glove.load(rows)
    rng = np.random.default_rng(seed)
    scale = np.linalg.norm(target, axis=1).mean() / np.sqrt(target.shape[1])
    start = rng.normal(size=target.shape) * scale
    unk = rng.normal(size=(1, target.shape[1])) * scale
    finish = 10 * 2 ** (8 * np.arange(rows) / rows)
    tokens = ["<unk>", *words]
    dirs, tables = [], {}
    for step in steps:
        a = np.minimum(1.0, step / finish)[:, None]
        table = np.vstack([unk, (1 - a) * start + a * target]).astype(np.float32)
        extra = (reshaped or {}).get(step, 0)
        names = tokens + [f"extra{i}" for i in range(extra)]
        if extra:
            table = np.vstack([table, rng.normal(size=(extra, table.shape[1])).astype(np.float32)])
        path = planted(root / f"checkpoint-{step}", names, table)
        state = {"model.embed_tokens.weight": table}
        if ballast:
            rest = rng.normal(size=(ballast, table.shape[1])).astype(np.float32)
            state["model.layers.0.mlp.up_proj.weight"] = rest
        if step in bin_steps:
            import torch

            (path / "model.safetensors").unlink()
            torch.save({k: torch.from_numpy(v.copy()) for k, v in state.items()},
                       path / "pytorch_model.bin")  # fmt: skip
        elif ballast:
            from safetensors.numpy import save_file

            save_file(state, str(path / "model.safetensors"))
        dirs.append(path)
        tables[step] = table
    return dirs, tokens, tables
