"""``--table output``: the output head read as a table, and ``--remove-pcs`` on the queries.

References are computed independently: the head's rows straight from the safetensors file,
all-but-the-top from a float64 numpy SVD of the raw table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.conftest import run_subprocess
from tests.hub_server import HubServer
from tests.read.test_hub import embcli, header_len, table_range


def _rows_of(model_dir, name):
    return load_file(str(model_dir / "model.safetensors"))[name].float().numpy()


def _table(cache_path):
    from pathlib import Path

    from embcli.store.cache import open_entry
    from embcli.store.table import EmbeddingTable

    return EmbeddingTable(open_entry(Path(cache_path)))


def test_untied_head_is_read_from_its_own_tensor(cli, model_dirs):
    model = model_dirs["llama"]
    res = cli("info", "-m", model, "--table", "output", "-f", "json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["table"] == "output" and info["tensor"] == "lm_head.weight"
    head = _rows_of(model, "lm_head.weight")
    table = _table(info["cache_path"])
    np.testing.assert_allclose(table.raw(np.arange(head.shape[0])), head, rtol=1e-6, atol=1e-7)
    assert "tied" not in res.err
    # The input table is another entry, with other rows.
    inp = json.loads(cli("info", "-m", model, "-f", "json").out)
    assert inp["table"] == "input" and inp["tensor"] == "model.embed_tokens.weight"
    assert inp["cache_path"] != info["cache_path"]
    assert inp["head_tensor"] == "lm_head.weight" and inp["head_shape"] == list(head.shape)
    assert inp["head_dtype"] == "BF16"
    shown = cli("info", "-m", model, "-f", "table").out
    assert "lm_head.weight" in shown and "model.embed_tokens.weight" in shown


def test_neighbors_on_the_head_match_numpy(cli, model_dirs):
    model = model_dirs["llama"]
    head = _rows_of(model, "lm_head.weight").astype(np.float64)
    unit = head / np.linalg.norm(head, axis=1, keepdims=True)
    out = cli("neighbors", "#40", "--all-tokens", "-k", "5", "-m", model, "--table", "output",
              "-f", "json")  # fmt: skip
    assert out.code == 0, out.err
    got = json.loads(out.out)["neighbors"]
    sims = unit @ unit[40]
    sims[40] = -np.inf
    want = np.argsort(-sims, kind="stable")[:5]
    assert [n["id"] for n in got] == want.tolist()
    np.testing.assert_allclose([n["cosine"] for n in got], sims[want], atol=1e-5)
    # Global position of the option works too.
    again = cli("--table", "output", "neighbors", "#40", "--all-tokens", "-k", "5", "-m", model,
                "-f", "json")  # fmt: skip
    assert [n["id"] for n in json.loads(again.out)["neighbors"]] == want.tolist()


def test_tied_head_is_the_input_table_and_says_so(cli, model_dirs):
    model = model_dirs["gpt2"]
    plain = cli("neighbors", "king", "-k", "5", "-m", model, "-f", "json")
    head = cli("neighbors", "king", "-k", "5", "-m", model, "--table", "output", "-f", "json")
    assert plain.code == 0 and head.code == 0, head.err
    assert json.loads(plain.out) == json.loads(head.out)
    assert "tied" in head.err and "tied" not in plain.err
    warm = cli("info", "-m", model, "--table", "output", "-f", "json")  # warm: from the ref
    assert "tied" in warm.err
    info = json.loads(warm.out)
    assert info["table"] == "input" and info["tied"] is True


def test_tensor_with_table_output_is_a_usage_error(cli, model_dirs):
    res = cli("info", "-m", model_dirs["llama"], "--table", "output", "--tensor", "lm_head.weight")
    assert res.code == 2 and res.err.startswith("embcli: ") and "\n" not in res.err.strip()


def test_word_vectors_have_no_head(cli, tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("2 3\na 1 0 0\nb 0 1 0\n", encoding="utf-8")
    res = cli("info", "-m", path, "--table", "output")
    assert res.code == 1 and "no output head" in res.err


def _abtt(raw: np.ndarray, rows: np.ndarray, d: int) -> np.ndarray:
    """All-but-the-top in float64: centre on the used rows, remove their top d PCs."""
    mean = raw[rows].mean(axis=0)
    _, _, vt = np.linalg.svd(raw[rows] - mean, full_matrices=False)
    x = raw - mean
    x = x - (x @ vt[:d].T) @ vt[:d]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_remove_pcs_matches_numpy_and_is_cached(cli, model_dirs):
    model = model_dirs["llama"]
    raw = _rows_of(model, "model.embed_tokens.weight").astype(np.float64)
    info = json.loads(cli("info", "-m", model, "-f", "json").out)
    rows = np.arange(raw.shape[0]) < info["tokenizer_size"]
    want = _abtt(raw, rows, 3)
    res = cli("neighbors", "#7", "--remove-pcs", "3", "--all-tokens", "-k", "4", "-m", model,
              "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    sims = want @ want[7]
    sims[7] = -np.inf
    order = np.argsort(-sims, kind="stable")[:4]
    got = json.loads(res.out)["neighbors"]
    assert [n["id"] for n in got] == order.tolist()
    np.testing.assert_allclose([n["cosine"] for n in got], sims[order], atol=1e-5)
    from pathlib import Path

    cached = Path(info["cache_path"])
    # Kept: the mean and components (small) and one length per row; no transformed copy.
    derived = {p.name: p.stat().st_size for p in (cached / "derived").iterdir()}
    assert "abtt3.npz" in derived and len(derived) == 2, derived
    (lengths,) = [n for n in derived if n.startswith("lengths-")]
    assert derived[lengths] < raw.shape[0] * 8 + 1024  # V float64s and a header
    assert derived["abtt3.npz"] < 4 * raw.shape[1] * 8 + 2048  # mean and 3 components
    assert not list(cached.rglob("*.tmp*"))
    sim = json.loads(cli("similarity", "#7", "#9", "--remove-pcs", "3", "-m", model,
                         "-f", "json").out)  # fmt: skip
    assert sim["cosine"] == pytest.approx(float(want[7] @ want[9]), abs=1e-6)
    ana = cli("analogy", "#1", "#2", "#3", "--remove-pcs", "3", "-m", model, "-f", "json")
    assert ana.code == 0, ana.err
    shown = cli("similarity", "#7", "#9", "--remove-pcs", "3", "-m", model, "-f", "table").out
    assert "top 3 PCs removed" in shown


@pytest.mark.slow  # a hub server
def test_hub_head_reads_only_its_byte_range(model_dirs, tmp_path):
    with HubServer() as hub:
        hub.add("tiny/llama", model_dirs["llama"])
        res = embcli(hub, tmp_path, "info", "-m", "tiny/llama", "--table", "output", "-f", "json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["tensor"] == "lm_head.weight"
        weights = model_dirs["llama"] / "model.safetensors"
        lo, hi = table_range(weights, "lm_head.weight")
        header_end = 8 + header_len(weights)
        served = [s for s in hub.log if s.filename == "model.safetensors" and s.method == "GET"]
        for s in served:
            assert s.end <= header_end or (lo <= s.start and s.end <= hi), (s.start, s.end)
        assert sum(s.end - s.start for s in served if s.start >= lo) == hi - lo
        assert hub.bytes_served("model.safetensors") <= 2 * header_end + (hi - lo)  # probe+build
        before = len(hub.log)
        warm = embcli(hub, tmp_path, "neighbors", "#5", "-m", "tiny/llama", "--table", "output",
                      "--all-tokens", "-f", "json")  # fmt: skip
        assert warm.code == 0, warm.err
        assert len(hub.log) == before


@pytest.mark.slow  # a process
def test_warm_head_imports_no_torch(model_dirs, tmp_path):
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    model = model_dirs["llama"]
    assert run_subprocess("info", "-m", model, "--table", "output", env=env).code == 0
    code = ("import sys; from embcli.cli.main import main\n"
            f"try: main(['neighbors', '#3', '--table', 'output', '-m', {str(model)!r}])\n"
            "except SystemExit: pass\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")  # fmt: skip
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, **env})  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def _t5_like(path, head_equal: bool):
    """A T5-style checkpoint whose config ties (T5's class forces it) storing ``lm_head.weight``
    beside ``shared.weight``: equal values (a copy) or a head of its own (T5 v1.1, Flan-T5)."""
    import torch
    from safetensors.torch import save_file

    from tests.models import metaspace_tokenizer

    tok = metaspace_tokenizer()
    v, d = tok.get_vocab_size(), 16
    torch.manual_seed(5)
    shared = torch.randn(v, d)
    head = shared.clone() if head_equal else torch.randn(v, d)
    path.mkdir()
    save_file({"shared.weight": shared, "lm_head.weight": head}, str(path / "model.safetensors"))
    config = {"model_type": "t5", "vocab_size": v, "d_model": d, "tie_word_embeddings": False}
    (path / "config.json").write_text(json.dumps(config))
    tok.save(str(path / "tokenizer.json"))
    return path, head.numpy()


@pytest.mark.parametrize("equal", [True, False])
def test_a_stored_head_is_tied_only_when_its_values_are_the_tables(cli, tmp_path, equal):
    """transformers ties two stored tensors only when their values agree (T5 v1.1 stores a head
    of its own although T5's config class forces tying): so does embcli."""
    model, head = _t5_like(tmp_path / "t5", equal)
    info = json.loads(cli("info", "-m", model, "-f", "json").out)
    assert info["tensor"] == "shared.weight" and info["tied"] is equal
    out = cli("info", "-m", model, "--table", "output", "-f", "json")
    assert out.code == 0, out.err
    got = json.loads(out.out)
    if equal:
        assert got["table"] == "input" and "tied" in out.err
    else:
        assert got["table"] == "output" and got["tensor"] == "lm_head.weight"
        assert got["tied"] is False and "stores a head of its own" in got["tie_reason"]
        np.testing.assert_allclose(_table(got["cache_path"]).raw(np.arange(len(head))), head,
                                   rtol=1e-6, atol=1e-7)  # fmt: skip
        assert "stores a head of its own" in info["tie_reason"]


def test_target_table_is_refused_for_a_model_without_one(cli, model_dirs):
    res = cli("info", "-m", model_dirs["llama"], "--table", "target")
    assert res.code == 2 and "no target table" in res.err
    assert len(res.err.strip().splitlines()) == 1
