"""``embcli context`` against transformers run independently in the test, one sentence at a time.

References: MiniLM's hidden states from ``output_hidden_states=True`` on each sentence alone
(tokenized by the ``tokenizers`` library, no padding), cosines and the baseline in float64; on a
tiny random GPT-2, the model's own logits and ``lm_head(ln_f(h))`` computed directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import run_subprocess
from tests.hub_server import HubServer

BANK = [
    "She sat on the river bank.",
    "He paid the cheque into the Bank.",
    "The bank raised its rates again this year.",
]


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_states(model_dir, texts):
    """Per sentence: (token ids, char offsets, hidden states [L+1, T, D] float64)."""
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float64).eval()
    out = []
    for t in texts:
        enc = tok.encode(t)
        ids = torch.tensor([enc.ids])
        with torch.no_grad():
            hs = model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                token_type_ids=torch.zeros_like(ids),
                output_hidden_states=True,
            )
        states = torch.stack(hs.hidden_states)[:, 0].numpy()
        out.append((enc.ids, enc.offsets, states, set(enc.special_tokens_mask)))
    return out


def word_rows(ids, offsets, word, text):
    lo = text.lower().index(word.lower())
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < lo + len(word) and e > lo]


def test_layers_equal_transformers_hidden_states(minilm_dir, cli):
    res = cli("context", "-m", minilm_dir, "bank", *BANK, "-f", "json", "-k", "4")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert list(data) == ["word", "model", "sentences", "static_pairs", "layers", "nearest"]
    ref = reference_states(minilm_dir, BANK)
    vecs = []
    for sent, (ids, offsets, states, _) in zip(data["sentences"], ref, strict=True):
        rows = word_rows(ids, offsets, "bank", sent["text"])
        assert [t["id"] for t in sent["tokens"]] == [ids[r] for r in rows]
        assert set(sent["tokens"][0]) == {"id", "token", "start", "end"}
        vecs.append(states[:, rows].mean(axis=1))
    vecs = np.stack(vecs)  # [S, L+1, D]
    assert [ly["layer"] for ly in data["layers"]] == list(range(7))
    assert [(p["a"], p["b"]) for p in data["static_pairs"]] == [(0, 1), (0, 2), (1, 2)]
    assert all(p["cosine"] == pytest.approx(1.0) for p in data["static_pairs"])  # same token
    special = {i for ids, _, _, _ in ref for i in ids[:1] + ids[-1:]}  # [CLS], [SEP]
    for ly in data["layers"]:
        u = unit(vecs[:, ly["layer"]])
        for p in ly["pairs"]:
            assert p["cosine"] == pytest.approx(float(u[p["a"]] @ u[p["b"]]), abs=1e-5)
        # Ethayarajh's baseline: all non-special tokens of all sentences, different-id pairs.
        toks = [
            (i, s[ly["layer"], n])
            for ids, _, s, _ in ref
            for n, i in enumerate(ids)
            if i not in special
        ]
        tid = np.array([i for i, _ in toks])
        uu = unit(np.stack([v for _, v in toks]))
        sims = uu @ uu.T
        assert ly["baseline"] == pytest.approx(sims[tid[:, None] != tid[None, :]].mean(), abs=1e-5)
    # Not a causal LM: nearest rows of the static table by cosine, special tokens left out.
    from safetensors.numpy import load_file

    table = next(
        v
        for k, v in load_file(minilm_dir / "model.safetensors").items()
        if k.endswith("word_embeddings.weight")
    )
    scores = unit(vecs[:, 6]) @ unit(table).T
    scores[:, [0, 100, 101, 102, 103]] = -np.inf  # [PAD] [UNK] [CLS] [SEP] [MASK]
    for near, row in zip(data["nearest"], scores, strict=True):
        assert near["via"] == "static table" and near["layer"] == 6
        assert [r["id"] for r in near["results"]] == list(np.argsort(-row)[:4])
        np.testing.assert_allclose(
            [r["score"] for r in near["results"]], np.sort(row)[::-1][:4], atol=1e-5
        )


def test_multi_token_word_is_averaged_and_said(minilm_dir, cli):
    texts = ["Defenestration is a rare word.", "The defenestration of Prague."]
    res = cli("context", "-m", minilm_dir, "defenestration", *texts, "-f", "json", "-k", "0")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    ref = reference_states(minilm_dir, texts)
    vecs = []
    for sent, (ids, offsets, states, _) in zip(data["sentences"], ref, strict=True):
        rows = word_rows(ids, offsets, "defenestration", sent["text"])
        assert len(rows) > 1 and len(sent["tokens"]) == len(rows)
        vecs.append(states[:, rows].mean(axis=1))
    u = unit(np.stack(vecs))
    for ly in data["layers"]:
        assert ly["pairs"][0]["cosine"] == pytest.approx(
            float(u[0, ly["layer"]] @ u[1, ly["layer"]]), abs=1e-5
        )
    table = cli("context", "-m", minilm_dir, "defenestration", *texts, "-f", "table", "-k", "0")
    assert "mean of" in table.out


# -- the causal path, on a tiny random GPT-2 -------------------------------------------------


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    from tests import models

    return models.gpt2(tmp_path_factory.mktemp("ctx") / "gpt2")


@pytest.mark.slow  # torch
def test_logit_lens_last_layer_is_the_models_own_logits(gpt2, cli):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    texts = ["the king and the queen live in Paris", "A king is a man"]
    model = GPT2LMHeadModel.from_pretrained(gpt2, dtype=torch.float64).eval()
    tok = AutoTokenizer.from_pretrained(gpt2)
    for layer in (1, 0):  # 1 = last (lm_head(h)); 0 = inner (lm_head(ln_f(h)))
        res = cli("context", "-m", gpt2, "king", *texts, "--layer", layer, "-k", "5", "-f", "json")
        assert res.code == 0, res.err
        data = json.loads(res.out)
        for near, text in zip(data["nearest"], texts, strict=True):
            assert near["via"] == "logit lens" and near["layer"] == layer
            enc = tok(text, return_tensors="pt", return_offsets_mapping=True)
            pos = word_rows(None, enc.pop("offset_mapping")[0].tolist(), "king", text)
            with torch.no_grad():
                out = model(**enc, output_hidden_states=True)
                if layer == 1:
                    logits = out.logits[0, pos].mean(0)  # the model's own next-token logits
                else:
                    h = out.hidden_states[0][0, pos].mean(0)
                    logits = model.lm_head(model.transformer.ln_f(h))
            probs = torch.softmax(logits, -1).numpy()
            assert [r["id"] for r in near["results"]] == list(np.argsort(-probs)[:5])
            np.testing.assert_allclose(
                [r["score"] for r in near["results"]], np.sort(probs)[::-1][:5], rtol=1e-4
            )


def test_lens_logits_equal_direct_computation(gpt2):
    from embcli.run import context, model

    loaded = model.load(str(gpt2), with_head=True)
    ids = loaded.tokenizer("the king and the queen", return_tensors="pt")
    with torch.inference_mode():
        full = loaded.model(**ids, output_hidden_states=True)
        h0, h1 = full.hidden_states[0][0], full.hidden_states[1][0]
        torch.testing.assert_close(context.lens_logits(loaded, h1, 1), full.logits[0])
        direct = loaded.model.lm_head(loaded.model.transformer.ln_f(h0))
        torch.testing.assert_close(context.lens_logits(loaded, h0, 0), direct)


def test_left_and_right_padding_equal_one_sentence_at_a_time(gpt2):
    from embcli.run import context, model

    loaded = model.load(str(gpt2), with_head=True)
    texts = ["the king", "the king and the queen live in Paris, the capital of France", "a king"]
    rows, _ = context.encode(loaded, texts, 64)
    alone = [context.hidden_states(loaded, [r]).states[0] for r in rows]
    for side in ("right", "left"):
        batched = context.hidden_states(loaded, rows, padding_side=side).states
        for a, b in zip(alone, batched, strict=True):
            np.testing.assert_allclose(b, a, atol=1e-5)


# -- encoder-decoders -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    """A tiny random BART with a byte-level BPE tokenizer."""
    from transformers import BartConfig, BartForConditionalGeneration

    from tests.models import byte_level_tokenizer
    from tests.zoo import fast_tokenizer

    path = tmp_path_factory.mktemp("bart")
    tok = byte_level_tokenizer()
    torch.manual_seed(1)
    sizes = dict(d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64)  # fmt: skip
    cfg = BartConfig(vocab_size=tok.get_vocab_size(), max_position_embeddings=64, **sizes)
    BartForConditionalGeneration(cfg).save_pretrained(path)
    fast_tokenizer(tok).save_pretrained(path)
    return path


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_encoder_decoder_sides_equal_transformers(bart, cli, side):
    """The encoder reads the sentences by default (layers 0..L of ``get_encoder()``);
    ``--side decoder`` feeds them to the decoder: both equal transformers run one sentence at
    a time, in float64."""
    from tokenizers import Tokenizer
    from transformers import BartModel

    texts = BANK[:2]
    args = ["context", "bank", *texts, "-m", bart, "-f", "json", "-k", "0"]
    res = cli(*args, *(["--side", "decoder"] if side == "decoder" else []))
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["side"] == side
    tok = Tokenizer.from_file(str(bart / "tokenizer.json"))
    model = BartModel.from_pretrained(bart, dtype=torch.float64).eval()
    vectors = []
    for text in texts:
        enc = tok.encode(text)
        ids = torch.tensor([enc.ids])
        with torch.no_grad():
            if side == "encoder":
                hs = model.get_encoder()(input_ids=ids, output_hidden_states=True).hidden_states
            else:
                out = model(input_ids=ids, decoder_input_ids=ids, output_hidden_states=True)
                hs = out.decoder_hidden_states
        rows = word_rows(enc.ids, enc.offsets, "bank", text)
        vectors.append([h[0, rows].mean(0).numpy() for h in hs])
    assert len(got["layers"]) == len(vectors[0]) == (3 if side == "encoder" else 4)
    for layer in got["layers"]:
        a, b = (unit(v[layer["layer"]]) for v in vectors)
        assert layer["pairs"][0]["cosine"] == pytest.approx(float(a @ b), abs=1e-5)


@pytest.mark.slow  # torch
def test_side_is_refused_for_one_stack_of_layers(gpt2, cli):
    res = cli("context", "king", "the king", "a king", "-m", gpt2, "--side", "decoder")
    assert res.code == 2 and "one stack of layers" in res.err
    assert len(res.err.strip().splitlines()) == 1


# -- bad input, plots, imports, the Hub ------------------------------------------------------


def test_bad_input_is_one_line(minilm_dir, model_copy, cli, tmp_path):
    from tests import glove

    vec = glove.write_text(tmp_path / "glove.txt", limit=50)
    no_tok = model_copy("gpt2")
    (no_tok / "tokenizer.json").unlink()
    m = ("-m", minilm_dir)
    cases = [
        (("context", *m, "bank", "a river bank", "the cat sat"), 3, "not in sentence 1"),
        (("context", *m, "bank", "a river bank", ""), 2, "sentence 1 is empty"),
        (("context", *m, "bank", "a river bank"), 2, "two or more sentences"),
        (("context", "-m", no_tok, "king", "the king", "a king"), 1, "no usable tokenizer"),
        (("context", *m, "bank", "a bank", "the bank", "--layer", "7"), 2, "layers 0..6"),
        (("context", *m, "bank", "a bank", "the bank", "--occurrence", "2"), 3, "no occurrence 2"),
        (("context", "-m", vec, "the", "the cat", "the dog"), 1, "no model to run"),
        (("context", *m, "bank", "a bank", "the bank", "--plot", tmp_path / "x.gif"), 2, ".png"),
    ]
    for args, code, needle in cases:
        res = cli(*args)
        lines = res.err.strip().splitlines()
        assert res.code == code, (args, res.err)
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.err, res.err


def test_plot_png_and_html(minilm_dir, cli, tmp_path):
    for name in ("bank.png", "bank.html"):
        out = tmp_path / name
        res = cli("context", "-m", minilm_dir, "bank", *BANK, "--plot", out, "-f", "json")
        assert res.code == 0, res.err
        assert out.stat().st_size > 1000
    assert (tmp_path / "bank.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "bank.html").read_text(encoding="utf-8")


@pytest.mark.slow  # a process
def test_neighbors_does_not_import_the_run_stage(model_dirs, tmp_path):
    env = {**os.environ, "EMBCLI_CACHE": str(tmp_path / "c")}
    model = str(model_dirs["llama"])
    assert run_subprocess("info", "-m", model, env=env).code == 0
    probe = (
        "import sys\n"
        "from embcli.cli.main import main\n"
        "try:\n"
        f"    main(['neighbors', 'queen', '--pool', 'mean', '-m', {model!r}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')\n"
        "               or m.startswith('embcli.run'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr


def test_hub_download_fetches_only_what_the_forward_pass_needs(gpt2, minilm_dir, tmp_path):
    with HubServer() as hub:
        repo = hub.add("tiny/gpt2", gpt2)
        repo.files["onnx/model.onnx"] = b"not for us" * 100
        repo.files["openvino/openvino_model.bin"] = b"not for us" * 100
        repo.files["pytorch_model.bin"] = b"not for us" * 100
        repo.files["modules.json"] = (minilm_dir / "modules.json").read_bytes()
        repo.files["1_Pooling/config.json"] = (minilm_dir / "1_Pooling/config.json").read_bytes()
        env = {
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf"),
            "EMBCLI_CACHE": str(tmp_path / "cache"),
            "HF_TOKEN": "",
        }
        ctx = run_subprocess(
            "context", "-m", "tiny/gpt2", "king", "the king", "a king", "-f", "json", env=env
        )
        assert ctx.code == 0, ctx.err
        assert json.loads(ctx.out)["nearest"][0]["via"] == "logit lens"
        sen = run_subprocess(
            "sentences", "-m", "tiny/gpt2", "the king", "a queen", "-f", "json", env=env
        )
        assert sen.code == 0, sen.err
        data = json.loads(sen.out)
        assert data["pooling"] == "mean" and data["normalized"] is True  # from modules.json
        got = {s.filename for s in hub.log if s.method == "GET" and s.filename}
    assert {
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "modules.json",
        "1_Pooling/config.json",
    } <= got
    assert not got & {"onnx/model.onnx", "openvino/openvino_model.bin", "pytorch_model.bin"}
