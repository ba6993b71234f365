"""``embcli undertrained``: the indicator against float64 numpy, the held-out [unusedN] check on
the real MiniLM table, and the tokenizer-only reference set and reachability."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from safetensors.torch import load_file


def _indicator(w: np.ndarray, ref: list[int]) -> np.ndarray:
    """Cosine distance to the reference mean after removing the first PC (float64 SVD)."""
    _, _, vt = np.linalg.svd(w - w.mean(axis=0), full_matrices=False)
    pc = vt[0]
    x = w - np.outer(w @ pc, pc)
    m = x[ref].mean(axis=0)
    return 1 - (x @ m) / (np.linalg.norm(x, axis=1) * np.linalg.norm(m))


def test_held_out_unused_tokens_rank_high_on_minilm(cli, minilm_dir, tmp_path):
    vocab = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    unused = {
        i: int(m.group(1))
        for i, t in enumerate(vocab)
        if (m := re.fullmatch(r"\[unused(\d+)\]", t))
    }
    even = [t for i, t in enumerate(vocab) if i in unused and unused[i] % 2 == 0]
    odd = {i for i, n in unused.items() if n % 2}
    ref = tmp_path / "ref.txt"
    ref.write_text("".join(f"{t}\n" for t in even), encoding="utf-8")
    res = cli(
        "undertrained", "-m", minilm_dir, "--reference", ref, "--all", "-k", "0", "-f", "json"
    )
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["reference"]["size"] == len(even)
    ranked = [c["id"] for c in got["candidates"]]
    assert not set(ranked) & {vocab.index(t) for t in even}
    top = set(ranked[:1000])
    assert sum(i in top for i in odd) >= 0.95 * len(odd)
    # The scores are the float64 indicator.
    from safetensors.numpy import load_file as load_np

    w = load_np(str(minilm_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    want = _indicator(w.astype(np.float64), [vocab.index(t) for t in even])
    have = np.array([c["score"] for c in got["candidates"]])
    np.testing.assert_allclose(have, want[ranked], atol=1e-6)
    assert np.all(np.diff(have) >= 0)


def test_untied_head_scores_and_input_norms(cli, model_dirs, tmp_path):
    model = model_dirs["llama"]
    state = load_file(str(model / "model.safetensors"))
    head = state["lm_head.weight"].float().numpy().astype(np.float64)
    inp = state["model.embed_tokens.weight"].float().numpy().astype(np.float64)
    ref = tmp_path / "ref.txt"
    ref.write_text("#3\n#4\n#5\n#6\n", encoding="utf-8")
    res = cli("undertrained", "-m", model, "--reference", ref, "--all", "-k", "0", "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["table"] == "output" and got["reference"] == {"how": f"from {ref}", "size": 4}
    want = _indicator(head, [3, 4, 5, 6])
    ids = [c["id"] for c in got["candidates"]]
    assert sorted(ids) == sorted(set(range(len(head))) - {3, 4, 5, 6})
    np.testing.assert_allclose([c["score"] for c in got["candidates"]], want[ids], atol=1e-5)
    norms = np.linalg.norm(inp, axis=1)
    np.testing.assert_allclose([c["norm"] for c in got["candidates"]], norms[ids], rtol=1e-5)
    # The default reference of a padded table: its rows beyond the tokenizer.
    default = json.loads(cli("undertrained", "-m", model, "-f", "json").out)
    info = json.loads(cli("info", "-m", model, "-f", "json").out)
    assert default["reference"]["size"] >= info["padded_rows"] > 0
    assert "beyond the tokenizer" in default["reference"]["how"]


def test_byte_level_reference_and_reachability(cli, model_dirs):
    from tokenizers import Tokenizer

    model = model_dirs["gpt2"]
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    res = cli("undertrained", "-m", model, "-k", "500", "--percentile", "50", "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    # 0xC0, 0xC1, 0xF5..0xFF: 13 single-byte pieces that decode to nothing valid.
    assert got["reference"]["size"] == 13 and "UTF-8" in got["reference"]["how"]
    assert "tied" in res.err
    seen = set()
    for c in got["candidates"]:
        text = tok.decode([c["id"]])
        assert c["reachable"] and tok.encode(text, add_special_tokens=False).ids == [c["id"]]
        seen.add(c["id"])
    assert got["candidates"] and [c["rank"] for c in got["candidates"]] == list(
        range(1, len(got["candidates"]) + 1)
    )
    for c in got["unreachable"]:
        text = tok.decode([c["id"]])
        assert not c["reachable"] and c["id"] not in seen
        assert "\ufffd" in text or tok.encode(text, add_special_tokens=False).ids != [c["id"]]
    assert any("partial UTF-8" in c["reasons"] for c in got["unreachable"])
    keys = {"rank", "id", "token", "score", "reachable", "norm", "norm_percentile", "reasons"}
    assert all(set(c) == keys for c in got["candidates"] + got["unreachable"])
    assert set(got) == {"model", "table", "indicator", "reference", "candidates", "unreachable"}


def test_bad_reference_file_is_one_line(cli, model_dirs, tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("no-such-token-xyz\n", encoding="utf-8")
    res = cli("undertrained", "-m", model_dirs["gpt2"], "--reference", ref)
    last = res.err.strip().splitlines()[-1]  # after the notice that the head is tied
    assert res.code == 1 and last.startswith("embcli: ") and "not a token" in last


@pytest.mark.slow  # a 3,000 x 2,100 float64 SVD as the reference: seconds
def test_wide_first_component_matches_svd():
    """Above 2,048 dimensions the first PC comes from subspace iteration: check it in float64."""
    from embcli.linalg import first_component

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 2100)) * np.linspace(1, 0.5, 2100) + 0.2
    d = rng.standard_normal(2100)
    x += 3 * rng.standard_normal((3000, 1)) * (d / np.linalg.norm(d))
    n = np.linalg.norm(x, axis=1)
    v = first_component((x / n[:, None]).astype(np.float32), n.astype(np.float32),
                        np.arange(3000))  # fmt: skip
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    assert abs(float(v @ vt[0])) > 1 - 1e-8


class _OldTokenizer:
    """Only the ``tokenizers`` 0.15 methods reachability may use (no ``encode_batch_fast``)."""

    def __init__(self, tok):
        self._tok = tok

    def id_to_token(self, i):
        return self._tok.id_to_token(i)

    def decode_batch(self, *args, **kwargs):
        return self._tok.decode_batch(*args, **kwargs)

    def encode_batch(self, *args, **kwargs):
        return self._tok.encode_batch(*args, **kwargs)


def test_reachability_needs_only_the_oldest_supported_tokenizers_api(model_dirs):
    """pyproject allows tokenizers >= 0.15; ``encode_batch_fast`` arrived in 0.20."""
    from tokenizers import Tokenizer

    from embcli.ask.undertrained import (
        REACH_OK,
        REACH_PARTIAL,
        REACH_SPECIAL,
        REACH_UNREACHABLE,
        reachability,
    )
    from embcli.store.load import open_table

    model = model_dirs["gpt2"]
    table = open_table(str(model))
    table.__dict__["tokenizer"] = _OldTokenizer(table.tokenizer)  # the cached_property's slot
    (table.path / "reach.npy").unlink(missing_ok=True)
    got = reachability(table)
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    special = set(table.special_ids)
    for i in range(tok.get_vocab_size()):
        text = tok.decode([i], skip_special_tokens=False)
        if i in special:
            want = REACH_SPECIAL
        elif "\ufffd" in text:
            want = REACH_PARTIAL
        elif tok.encode(text, add_special_tokens=False).ids == [i]:
            want = REACH_OK
        else:
            want = REACH_UNREACHABLE
        assert got[i] == want, i


def test_input_table_of_another_row_count_shows_the_heads_own_norms(model_dirs):
    from embcli.ask.undertrained import find_undertrained
    from embcli.store.load import ModelRef, open_table

    head = open_table(ModelRef(str(model_dirs["llama"]), role="output"))
    other = open_table(str(model_dirs["gpt2"]))
    assert other.shape[0] != head.shape[0]
    got = find_undertrained(head, other, k=0, all_rows=True)
    w = load_file(str(model_dirs["llama"] / "model.safetensors"))["lm_head.weight"]
    norms = np.linalg.norm(w.float().numpy().astype(np.float64), axis=1)
    ids = [c["id"] for c in got.candidates]
    np.testing.assert_allclose([c["norm"] for c in got.candidates], norms[ids], rtol=1e-5)
    assert "the head's own row norm" in got.view().caption
    assert f"{other.shape[0]:,} rows" in got.view().caption


def test_api_and_cli_give_one_answer(cli, model_dirs, tmp_path):
    """Untied: both open the input table for the norms; tied: both say so and name "output"."""
    import embcli

    ref = tmp_path / "ref.txt"
    ref.write_text("#3\n#4\n#5\n#6\n", encoding="utf-8")
    llama = model_dirs["llama"]
    res = cli("undertrained", "-m", llama, "--reference", ref, "--all", "-k", "0", "-f", "json")
    assert res.code == 0, res.err
    api = embcli.load(llama, role="output").undertrained(0, reference=ref, all_rows=True)
    assert api.to_dict() == json.loads(res.out)
    inp = load_file(str(llama / "model.safetensors"))["model.embed_tokens.weight"]
    norms = np.linalg.norm(inp.float().numpy().astype(np.float64), axis=1)
    ids = [c["id"] for c in api.candidates]
    np.testing.assert_allclose([c["norm"] for c in api.candidates], norms[ids], rtol=1e-5)
    assert "input table's row norm" in api.view().caption
    gpt2 = model_dirs["gpt2"]
    for kind in ("output", "input"):
        res = cli("undertrained", "-m", gpt2, "--table", kind, "-f", "json")
        assert res.code == 0, res.err
        api = embcli.load(gpt2, role=kind).undertrained()
        assert api.to_dict() == json.loads(res.out) and api.table == kind
        assert ("tied: it is the input table" in api.view().caption) == (kind == "output")
