"""The commands on GGUF tables: info and size from the metadata, stats naming the quantisation,
compare's per-row cosine against the float table, and the other table commands through the CLI.

Expected answers: float64 numpy over ``gguf.quants.dequantize`` of the bytes written, the
tensor directory as the tests wrote it, scipy for the correlations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests import gguf_files as G
from tests import models
from tests.read.test_gguf import table
from tests.store.test_gguf_table import json_out, reference_neighbours, spm_file


@pytest.fixture
def quantised(tmp_path):
    """A Q4_K_M-style file: Q4_K table, Q6_K head, a Q8_0 block tensor beside them."""
    vocab = G.spm_vocab(models.metaspace_tokenizer())
    n = len(vocab.tokens)
    head = G.named(G.random_blocks(n, 256, "Q6_K", seed=4), "output.weight")
    other = G.named(G.random_blocks(64, 512, "Q8_0", seed=5), "blk.0.ffn_up.weight")
    path, _, t = spm_file(tmp_path, "Q4_K", more=[head, other])
    return path, vocab, t, head, other


# -- info, size, stats ---------------------------------------------------------------------------


def test_info_states_the_container_quantisation_and_metadata(cli, quantised):
    path, vocab, t, head, _ = quantised
    info = json_out(cli("info", "-m", path, "-f", "json"))
    g = info["gguf"]
    assert info["container"] == "gguf" and info["source_dtype"] == "Q4_K"
    assert (g["table_type"], g["table_bytes"]) == ("Q4_K", t.raw.nbytes)
    assert (g["head_type"], g["head_bytes"]) == ("Q6_K", head.raw.nbytes)
    assert (g["architecture"], g["n_vocab"], g["n_embd"]) == ("llama", len(vocab.tokens), 256)
    assert (g["context_length"], g["file_type"], g["tied"]) == (4096, "Q4_K_M", False)
    shown = cli("info", "-m", path, "-f", "table").out
    assert "table Q4_K" in shown and "head Q6_K" in shown and "context 4,096" in shown


def test_size_takes_its_numbers_from_the_metadata(cli, quantised, tmp_path, monkeypatch):
    path, vocab, t, head, other = quantised
    total = sum(x.dequantized().size for x in (t, head, other))
    for spec in (str(path), "ollama:tiny"):
        if spec.startswith("ollama:"):
            root = tmp_path / "ollama"
            G.ollama_tree(root, path, {"library/tiny/latest": "registry.ollama.ai"})
            monkeypatch.setenv("OLLAMA_MODELS", str(root))
        card = json_out(cli("size", spec, "-f", "json"))
        assert (card["vocab_size"], card["dim"], card["tied"]) == (len(vocab.tokens), 256, False)
        assert card["total_params"] == total and card["params_method"] == "GGUF tensor directory"
        assert (card["checkpoint_dtype"], card["checkpoint_bytes"]) == ("Q4_K", t.raw.nbytes)
        assert card["config_from"] == "gguf" and card["gguf"]["head_bytes"] == head.raw.nbytes
        assert card["position_note"] == "none: rotary"  # llama's family record applies


def test_stats_names_the_quantisation(cli, quantised, model_dirs):
    path, _, t, _, _ = quantised
    stats = json_out(cli("stats", "-m", path, "-f", "json"))
    assert stats["quantisation"] == {"type": "Q4_K", "file_type": "Q4_K_M", "bytes": t.raw.nbytes}
    norms = np.linalg.norm(t.dequantized().astype(np.float64), axis=1)
    assert stats["norms"]["max"] == pytest.approx(norms.max(), rel=1e-6)
    head_stats = json_out(cli("stats", "-m", path, "--table", "output", "-f", "json"))
    assert head_stats["quantisation"]["type"] == "Q6_K"
    assert "Q4_K blocks dequantised" in cli("stats", "-m", path, "-f", "table").out
    float_stats = json_out(cli("stats", "-m", model_dirs["gpt2"], "-f", "json"))
    assert float_stats["quantisation"] is None


# -- compare: what quantisation did to each row --------------------------------------------------


def llama_as_gguf(model_dir: Path, target: Path, qtype: str = "Q8_0") -> tuple[Path, np.ndarray]:
    """The tests' tiny Llama converted as llama.cpp would: its own tokenizer's vocabulary, its
    table quantised. Returns the file and the float table it was made from."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    weights = load_file(str(model_dir / "model.safetensors"))
    name = next(k for k in weights if k.endswith("embed_tokens.weight"))
    values = weights[name].float().numpy()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    pieces = [""] * tok.get_vocab_size()
    for piece, i in tok.get_vocab().items():
        pieces[i] = piece
    special = {"<unk>": 2, "<s>": 3, "</s>": 3}
    types = [special.get(p, 1) for p in pieces]
    ids = {"unk": pieces.index("<unk>"), "bos": pieces.index("<s>"), "eos": pieces.index("</s>")}
    vocab = G.Vocab("llama", pieces, types, scores=[-float(i) for i in range(len(pieces))], ids=ids)
    t = G.named(G.quantized(values, qtype), "token_embd.weight")
    target.mkdir(parents=True, exist_ok=True)
    return G.write(target / f"tiny-{qtype}.gguf", [t], vocab), values


def test_compare_a_float_table_with_its_quantisation(cli, model_dirs, tmp_path):
    path, values = llama_as_gguf(model_dirs["llama"], tmp_path)
    got = json_out(cli("compare", "-m", model_dirs["llama"], "-m", path, "-f", "json"))
    rows = got["row_cosine"]
    assert rows is not None and got["neighbor_overlap"]["words"] > 0
    import gguf

    raw = gguf.quants.quantize(values.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    deq = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q8_0).astype(np.float64)
    n = 200  # the tokenizer's rows; the table is padded past them to 256
    a, b = values[:n].astype(np.float64), deq[:n]
    keep = (np.linalg.norm(a, axis=1) > 0) & (np.linalg.norm(b, axis=1) > 0)
    cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    cos = cos[keep]
    assert rows["rows"] == int(keep.sum()) and rows["zero_rows"] == n - int(keep.sum())
    assert rows["min"] == pytest.approx(cos.min(), abs=1e-6)
    assert rows["argmin"] == int(np.flatnonzero(keep)[np.argmin(cos)])
    assert rows["mean"] == pytest.approx(cos.mean(), abs=1e-6)
    for q, v in rows["quantiles"].items():
        assert v == pytest.approx(np.quantile(cos, float(q)), abs=1e-6)
    assert 0.99 < rows["min"] < 1.0  # Q8_0 keeps every row close, and changes it
    assert "row cosine" in cli("compare", "-m", model_dirs["llama"], "-m", path).out


def test_compare_says_nothing_of_rows_when_vocabularies_differ(cli, model_dirs, tmp_path):
    path, _, _ = spm_file(tmp_path, "Q8_0")
    got = json_out(cli("compare", "-m", model_dirs["gpt2"], "-m", path, "-f", "json"))
    assert got["row_cosine"] is None
    assert "row cosine" not in cli("compare", "-m", model_dirs["gpt2"], "-m", path).out


def test_compare_gives_quant_to_b(cli, model_dirs, tmp_path):
    folder = tmp_path / "gguf"
    llama_as_gguf(model_dirs["llama"], folder, "Q8_0")
    llama_as_gguf(model_dirs["llama"], folder, "Q4_0")
    got = json_out(
        cli("compare", "-m", model_dirs["llama"], "-m", folder, "--quant", "Q4_0", "-f", "json")
    )
    assert got["b"]["model"].endswith("tiny-Q4_0.gguf") and got["row_cosine"] is not None


# -- the other table commands --------------------------------------------------------------------


def test_similarity_analogy_export_plot_evaluate(cli, quantised, tmp_path):
    from scipy.stats import pearsonr, spearmanr

    path, vocab, t, _, _ = quantised
    deq = t.dequantized().astype(np.float64)
    unit = deq / np.linalg.norm(deq, axis=1, keepdims=True)

    sim = json_out(cli("similarity", "#171", "#57", "-m", path, "-f", "json"))
    assert sim["cosine"] == pytest.approx(reference_neighbours(deq, 171)[57], abs=1e-6)

    got = json_out(cli("analogy", "#171", "#57", "#400", "-m", path, "--all-tokens", "-k", "5",
                       "-f", "json"))  # fmt: skip
    target = unit[171] - unit[57] + unit[400]
    scores = unit @ (target / np.linalg.norm(target))
    scores[[171, 57, 400]] = -np.inf
    want = np.sort(scores)[::-1][:5]
    np.testing.assert_allclose([r["score"] for r in got["results"]], want, atol=1e-6)

    words = ["Rome", "the", "Cats", "The"]
    (tmp_path / "words.txt").write_text("\n".join(words) + "\n")
    out = tmp_path / "out.npy"
    res = cli("export", out, "-m", path, "--words", tmp_path / "words.txt", "-f", "json")
    assert res.code == 0, res.err
    ids = [vocab.tokens.index("\u2581" + w) for w in words]
    np.testing.assert_allclose(np.load(out), deq[ids], rtol=1e-6)

    png = tmp_path / "p.png"
    res = cli("plot", *words, "#300", "-m", path, "--plot", png)
    assert res.code == 0, res.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pairs = [("Rome", "the", 3.0), ("Cats", "Rome", 5.5), ("the", "Cats", 1.0), ("The", "Rome", 7)]
    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs))
    got = json_out(cli("evaluate", "similarity", tmp_path / "pairs.tsv", "-m", path,
                       "--case-sensitive", "-f", "json"))  # fmt: skip
    row = {w: vocab.tokens.index("\u2581" + w) for w in ("Rome", "the", "Cats", "The")}
    cos = [float(unit[row[a]] @ unit[row[b]]) for a, b, _ in pairs]
    human = [s for _, _, s in pairs]
    assert got["pairs"] == 4
    assert got["spearman"] == pytest.approx(spearmanr(cos, human).statistic, abs=1e-9)
    assert got["pearson"] == pytest.approx(pearsonr(cos, human).statistic, abs=1e-6)


def test_context_and_sentences_need_the_float_model(cli, quantised, tmp_path):
    from tests.cli.test_bad_input import assert_one_line_error

    path, _, _, _, _ = quantised
    res = cli("context", "Rome", "in Rome", "to Rome", "-m", path)
    assert_one_line_error(res, "context runs the model in float", "GGUF", "float model")
    res = cli("sentences", "in Rome", "to Rome", "-m", path)
    assert_one_line_error(res, "sentences runs the model in float", "GGUF")


def test_positions_of_a_gguf(cli, tmp_path):
    """A GPT-2 GGUF keeps its learned position table as position_embd.weight."""
    values = np.random.default_rng(3).normal(size=(64, 32)).astype(np.float32)
    pos = G.named(G.quantized(values, "F32"), "position_embd.weight")
    vocab = G.bpe_vocab(models.byte_level_tokenizer())
    tok = G.named(table(len(vocab.tokens), 32, "F16"), "token_embd.weight")
    path = G.write(tmp_path / "gpt2.gguf", [tok, pos], vocab, arch="gpt2",
                   meta={"gpt2.context_length": 64})  # fmt: skip
    png = tmp_path / "pos.png"
    res = cli("positions", "-m", path, "--plot", png)
    assert res.code == 0, res.err
    assert png.is_file()
    info = json.loads(cli("info", "-m", path, "--tensor", "position_embd.weight", "-f", "json").out)
    assert info["rows"] == 64 and info["tensor"] == "position_embd.weight"


def test_positions_of_a_gguf_chosen_by_quant_in_a_folder(cli, tmp_path):
    """``positions -m DIR --quant Q`` reads the chosen file's position table (the choice was
    lost on the way to the position table once, and the command did not take --quant)."""
    rng = np.random.default_rng(5)
    vocab = G.bpe_vocab(models.byte_level_tokenizer())
    folder = tmp_path / "models"
    folder.mkdir()
    values = {}
    for quant, rows in (("Q8_0", 48), ("Q4_0", 64)):
        values[quant] = rng.normal(size=(rows, 32)).astype(np.float32) * rng.uniform(
            0.5, 2, (rows, 1)
        ).astype(np.float32)
        pos = G.named(G.quantized(values[quant], "F32"), "position_embd.weight")
        tok = G.named(table(len(vocab.tokens), 32, "F16"), "token_embd.weight")
        G.write(folder / f"gpt2-{quant}.gguf", [tok, pos], vocab, arch="gpt2",
                meta={"gpt2.context_length": rows})  # fmt: skip
    import embcli

    for quant in ("Q8_0", "Q4_0"):
        picture = embcli.Model(str(folder), quant=quant).position_plot(max_positions=100)
        want = np.linalg.norm(values[quant].astype(np.float64), axis=1)
        np.testing.assert_allclose(picture.norms, want, rtol=1e-6)
    png = tmp_path / "pos.png"
    res = cli("positions", "-m", folder, "--quant", "Q4_0", "--plot", png)
    assert res.code == 0, res.err
    assert png.is_file()
