"""Static-embedding models written by their own libraries, for the tests.

Every model is saved by model2vec (``StaticModel.save_pretrained``, with its own
``quantize_model`` for float16, int8 and vocabulary quantisation) or by sentence-transformers
(``SentenceTransformer.save`` of a ``StaticEmbedding``), so embcli reads exactly the files those
libraries write. The rows are MiniLM's token table (real geometry: ``paris`` near ``france``)
with MiniLM's WordPiece tokenizer. model2vec's ``distill`` is not used: it needs the
``skeletoken`` extra and runs the transformer over every token (minutes on two cores); the
layout it writes is the one ``save_pretrained`` writes here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

#: Vocabulary quantisation runs KMeans over every row (10 restarts): 30,522 MiniLM rows take
#: 12 s on two cores, so the quantised models use a small WordPiece vocabulary of MiniLM rows.
SMALL_VOCAB = 400
QUANTISED_DIMS = 24
CLUSTERS = 40


def minilm_parts(minilm_dir: Path):
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    table = load_file(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    return table, Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))


def small_vocabulary(minilm_dir: Path):
    """A WordPiece tokenizer trained on the test corpus, each piece with MiniLM's row for it."""
    from tests.models import wordpiece_tokenizer

    table, minilm = minilm_parts(minilm_dir)
    tok = wordpiece_tokenizer(SMALL_VOCAB)
    pieces = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    ids = [minilm.token_to_id(p) for p, _ in pieces]
    unk = minilm.token_to_id("[UNK]")
    return table[[unk if i is None else i for i in ids]], tok


def model2vec_models(root: Path, minilm_dir: Path) -> dict[str, Path]:
    """Plain float32/float16/int8 over MiniLM's vocabulary, and vocabulary-quantised
    float32/int8 over a small one, saved by model2vec."""
    from model2vec import StaticModel
    from model2vec.model import quantize_model

    table, tok = minilm_parts(minilm_dir)
    plain = StaticModel(vectors=table, tokenizer=tok, normalize=True)
    raw = StaticModel(vectors=table, tokenizer=tok, normalize=False, max_length=64)
    small_rows, small_tok = small_vocabulary(minilm_dir)
    small = StaticModel(vectors=small_rows, tokenizer=small_tok, normalize=True)
    narrow = quantize_model(small, dimensionality=QUANTISED_DIMS)
    vq = quantize_model(narrow, vocabulary_quantization=CLUSTERS)
    models = {
        "m2v-f32": plain,
        "m2v-f16": quantize_model(plain, quantize_to="float16"),
        "m2v-int8-raw": quantize_model(raw, quantize_to="int8"),
        "m2v-vq-f32": vq,
        "m2v-vq-int8": quantize_model(vq, quantize_to="int8"),
    }
    out = {}
    for name, model in models.items():
        model.save_pretrained(root / name)
        out[name] = root / name
    return out


def sentence_transformers_models(root: Path, minilm_dir: Path) -> dict[str, Path]:
    """A StaticEmbedding model as sentence-transformers saves it (module at the top level), and
    the same files in ``0_StaticEmbedding/``, the layout earlier versions wrote."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding

    table, tok = minilm_parts(minilm_dir)
    rng = np.random.default_rng(7)
    rows = (table + 0.01 * rng.standard_normal(table.shape)).astype(np.float32)
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=rows), Normalize()])
    top = root / "st-static"
    model.save(str(top))
    nested = root / "st-static-nested"
    shutil.copytree(top, nested)
    (nested / "0_StaticEmbedding").mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (nested / name).rename(nested / "0_StaticEmbedding" / name)
    modules = json.loads((nested / "modules.json").read_text())
    modules[0]["path"] = "0_StaticEmbedding"
    (nested / "modules.json").write_text(json.dumps(modules, indent=2))
    return {"st-static": top, "st-static-nested": nested}


def tiny_model2vec(path: Path, dim: int = 16, seed: int = 0, vocab: int = 300) -> Path:
    """A small model2vec model saved by model2vec itself: a WordPiece vocabulary trained on the
    test corpus, random rows of ``dim`` (fast, torch-free; for the index tests)."""
    from model2vec import StaticModel

    from tests.models import wordpiece_tokenizer

    tok = wordpiece_tokenizer(vocab)
    rows = np.random.default_rng(seed).standard_normal((tok.get_vocab_size(), dim))
    StaticModel(vectors=rows.astype(np.float32), tokenizer=tok, normalize=True).save_pretrained(
        str(path)
    )
    return path


def random_lines(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences of 3 to 9 words of the test corpus, in random order."""
    import re

    from tests.models import CORPUS

    words = sorted({w.lower() for line in CORPUS for w in re.findall(r"[A-Za-z]+", line)})
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        n = int(rng.integers(3, 10))
        out[" ".join(words[i] for i in rng.integers(0, len(words), n))] = None
    return list(out)
