"""Static-embedding models: model2vec's layout and sentence-transformers' StaticEmbedding.

Every model is written by its own library (tests/static_models.py). The table embcli caches
must equal the rows the library itself uses (``embeddings[mapping] * weights`` for a quantised
vocabulary), neighbours must equal a float64 computation over those rows, and sentence vectors
must equal the library's ``encode``.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embcli
from embcli.ask.static_sentences import static_encoder
from embcli.read.formats import open_container
from embcli.read.sources import resolve
from embcli.read.static_model import StaticContainer, static_layout
from embcli.store.load import open_table
from tests import static_models
from tests.conftest import run_subprocess
from tests.hub_server import HubServer

SENTENCES = [
    "The cat sat on the mat.",
    "  Paris is the capital of France.  ",
    "A dog runs in the park; the river flows to the sea.",
    "unbelievable defenestration tokenization",
    "hello",
    "Königsberg, São Paulo and 北京",
]
M2V = ["m2v-f32", "m2v-f16", "m2v-int8-raw", "m2v-vq-f32", "m2v-vq-int8"]
ST = ["st-static", "st-static-nested"]


@pytest.fixture(scope="module")
def static_dirs(tmp_path_factory, minilm_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("static")
    return {
        **static_models.model2vec_models(root, minilm_dir),
        **static_models.sentence_transformers_models(root, minilm_dir),
    }


def library_rows(path: Path) -> np.ndarray:
    """Token rows as the library that wrote the model holds them, in float64."""
    if (path / "config.json").is_file():
        from model2vec import StaticModel

        m = StaticModel.from_pretrained(path)
        rows = m.embedding.astype(np.float64)
        if m.token_mapping is not None:
            rows = rows[m.token_mapping]
        if m.weights is not None:
            rows = rows * m.weights.astype(np.float64)[:, None]
        return rows
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path))[0].embedding.weight.detach().double().numpy()


def library_encode(path: Path, texts: list[str], widen: bool = False) -> np.ndarray:
    """The library's own ``encode``; ``widen`` runs model2vec on float32 copies of the rows."""
    if (path / "config.json").is_file():
        from model2vec import StaticModel

        m = StaticModel.from_pretrained(path)
        if widen:
            m = StaticModel(vectors=m.embedding.astype(np.float32), tokenizer=m.tokenizer,
                            config=m.config, normalize=m.normalize, weights=m.weights,
                            token_mapping=m.token_mapping, max_length=m.max_length)  # fmt: skip
        return np.asarray(m.encode(texts), dtype=np.float64)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path)).encode(texts).astype(np.float64)


# -- the layout is read, not guessed --------------------------------------------------------------


def test_layouts_are_read_from_the_models_files(static_dirs, minilm_dir, tmp_path):
    for name in M2V + ST:
        source = resolve(str(static_dirs[name]))
        container = open_container(source)
        assert isinstance(container, StaticContainer), name
        assert container.names() == (["embeddings"] if name in M2V else ["embedding.weight"])
    nested = static_layout(resolve(str(static_dirs["st-static-nested"])).small_file)
    assert nested is not None and nested.folder == "0_StaticEmbedding" and nested.normalize_module
    # A sentence-transformers model of a transformer is not static.
    assert static_layout(resolve(str(minilm_dir)).small_file) is None
    # model2vec's distillation writes model_type "model2vec"; with no modules.json that is enough.
    bare = tmp_path / "bare"
    shutil.copytree(static_dirs["m2v-f32"], bare)
    (bare / "modules.json").unlink()
    config = json.loads((bare / "config.json").read_text())
    (bare / "config.json").write_text(json.dumps({**config, "model_type": "model2vec"}))
    assert static_layout(resolve(str(bare)).small_file) is not None
    (bare / "config.json").write_text(json.dumps(config))  # neither: not recognised
    assert static_layout(resolve(str(bare)).small_file) is None


# -- the table ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", M2V + ST)
def test_cached_rows_equal_the_librarys_rows(static_dirs, name):
    table = open_table(str(static_dirs[name]))
    ref = library_rows(static_dirs[name])
    assert table.shape == ref.shape
    got = table.raw(np.arange(ref.shape[0])).astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-7 * np.abs(ref).max())


@pytest.mark.parametrize("name", M2V + ST)
def test_neighbors_equal_a_float64_reference(static_dirs, name):
    ref = library_rows(static_dirs[name])
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    t = embcli.load(static_dirs[name])
    for word in ("paris", "king"):
        got = t.neighbors(word, k=10, all_tokens=True)
        q = t.embeddings.token_id(word)
        sims = unit @ unit[q]
        sims[q] = -np.inf
        best = np.sort(sims)[::-1][:10]
        np.testing.assert_allclose([n.cosine for n in got], best, atol=1e-6)
        # Each id's own reference cosine is what was reported (ties may come in any order).
        np.testing.assert_allclose([sims[n.id] for n in got], [n.cosine for n in got], atol=1e-6)
        if "vq" not in name:  # a quantised vocabulary has exact ties; the rest must agree
            assert [n.id for n in got] == np.argsort(-sims, kind="stable")[:10].tolist()


def test_quantised_rows_come_in_blocks_locally_and_streamed(static_dirs):
    path = static_dirs["m2v-vq-int8"]
    container = open_container(resolve(str(path)))
    name = container.names()[0]
    info = container.info(name)
    ref = library_rows(path)
    assert info.shape == ref.shape and info.dtype == "I8"
    blocks = list(container.rows(name, 50))
    assert [lo for lo, _ in blocks] == list(range(0, ref.shape[0], 50))
    assert max(b.shape[0] for _, b in blocks) == 50
    np.testing.assert_allclose(np.concatenate([b for _, b in blocks]), ref, rtol=1e-7)

    from embcli.read.byte_source import LocalFile

    class Remote(LocalFile):  # the same bytes without a path: the streamed branch
        path = None  # type: ignore[assignment]

    streamed = StaticContainer(resolve(str(path)), container.layout)
    streamed.__dict__["_file"] = Remote(path / "model.safetensors")
    rows = np.concatenate([b for _, b in streamed.rows(name, 37)])
    np.testing.assert_array_equal(rows, np.concatenate([b for _, b in blocks]))


@pytest.mark.parametrize("name", ["m2v-f32", "m2v-vq-int8"])
def test_every_table_command_works(static_dirs, cli, tmp_path, name):
    m = ("-m", static_dirs[name])
    reference = tmp_path / "unused.txt"  # the small vocabulary has no [unusedN] tokens
    reference.write_text("#5\n#6\n#7\n")
    pairs = tmp_path / "pairs.tsv"  # words both vocabularies hold
    pairs.write_text("king\tqueen\t8.5\ncats\tdogs\t7\nparis\tfrance\t9\nrome\tbirds\t1\n"
                     "blue\tgreen\t6\nprince\tprincess\t8\n")  # fmt: skip
    for args in (
        ["neighbors", "paris", "-k", "3"],
        ["similarity", "cats", "dogs"],
        ["analogy", "king", "man", "woman"],
        ["stats", "--samples", "100"],
        ["undertrained", "--table", "input", "-k", "5", "--reference", str(reference)],
        ["evaluate", "similarity", str(pairs)],
        ["export", str(tmp_path / "out.txt"), "--limit", "50"],
        ["plot", "cats", "dogs", "paris", "france", "--plot", str(tmp_path / "p.png")],
        ["compare", "-m", static_dirs["m2v-vq-f32"], "--sample", "100"],
        ["tokenize", "Paris is big"],
    ):
        res = cli(*args, *m)
        assert res.code == 0, (args, res.err)
    assert (tmp_path / "p.png").stat().st_size > 0


# -- info -----------------------------------------------------------------------------------------


def test_info_names_the_layout(static_dirs, cli):
    res = cli("info", "-m", static_dirs["m2v-vq-int8"], "-f", "json")
    assert res.code == 0, res.err
    recipe = json.loads(res.out)["static"]
    assert recipe["library"] == "model2vec" and recipe["embedding_dtype"] == "int8"
    assert recipe["vocabulary_quantization"] == static_models.CLUSTERS
    assert recipe["token_weights"] and recipe["normalize"] and recipe["max_length"] == 512
    text = cli("info", "-m", static_dirs["m2v-vq-int8"]).out
    layout = next(line for line in text.splitlines() if line.startswith("layout"))
    assert f"vocabulary quantised to {static_models.CLUSTERS} shared rows" in layout
    assert "global factor" in layout and "cosines are exact" in layout
    st = json.loads(cli("info", "-m", static_dirs["st-static-nested"], "-f", "json").out)
    assert st["static"]["library"] == "sentence-transformers"
    assert st["static"]["folder"] == "0_StaticEmbedding"
    assert st["checkpoint_file"] == "0_StaticEmbedding/model.safetensors"
    assert st["static"]["max_length"] == 128  # MiniLM's tokenizer.json truncates at 128
    plain = json.loads(cli("info", "-m", static_dirs["m2v-int8-raw"], "-f", "json").out)
    assert plain["static"]["normalize"] is False and plain["static"]["max_length"] == 64


# -- sentences ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in M2V + ST if n != "m2v-f16"])
def test_sentence_vectors_equal_the_librarys_encode(static_dirs, name):
    table = open_table(str(static_dirs[name]))
    got = static_encoder(table).encode(SENTENCES).astype(np.float64)
    ref = library_encode(static_dirs[name], SENTENCES)
    scale = max(1.0, np.abs(ref).max())  # int8 rows are in int8 units, unnormalised here
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * scale)


def test_float16_sentences_are_the_float32_mean_of_the_same_rows(static_dirs):
    """model2vec averages a float16 model's rows into float16; embcli keeps float32."""
    path = static_dirs["m2v-f16"]
    got = static_encoder(open_table(str(path))).encode(SENTENCES).astype(np.float64)
    np.testing.assert_allclose(got, library_encode(path, SENTENCES, widen=True), atol=1e-6)
    np.testing.assert_allclose(got, library_encode(path, SENTENCES), atol=2e-3)


def test_truncation_and_unknown_tokens_follow_each_library(static_dirs):
    long = "the river " * 400  # 800 tokens
    odd = "\u2603 \u2603"  # only [UNK]: model2vec drops it, sentence-transformers keeps it
    texts = [long, odd, "a dog"]
    for name in ("m2v-f32", "m2v-int8-raw", "st-static"):
        enc = static_encoder(open_table(str(static_dirs[name])))
        got = enc.encode(texts).astype(np.float64)
        ref = library_encode(static_dirs[name], texts)
        scale = max(1.0, np.abs(ref).max())
        # model2vec averages 512 float32 rows in float32: 1e-6 is its own rounding, not ours.
        np.testing.assert_allclose(got, ref, atol=5e-6 * scale)
        assert any("truncated" in n for n in enc.notes), name
    m2v = static_encoder(open_table(str(static_dirs["m2v-f32"])))
    assert not m2v.encode([odd]).any() and "no known tokens" in m2v.notes[-1]
    # --max-length overrides the model's limit, as model2vec's encode(max_length=) does.
    from model2vec import StaticModel

    short = static_encoder(open_table(str(static_dirs["m2v-f32"])), max_length=5)
    ref = StaticModel.from_pretrained(static_dirs["m2v-f32"]).encode(texts, max_length=5)
    np.testing.assert_allclose(short.encode(texts), ref, atol=1e-6)


def test_sentences_and_search_run_the_library_way(static_dirs, cli, tmp_path):
    """The CLI and ``Model.sentences``/``search`` take the static path, same numbers."""
    path = static_dirs["m2v-vq-int8"]
    ref = library_encode(path, SENTENCES)
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    out = tmp_path / "v.npy"
    res = cli("sentences", *SENTENCES, "-m", path, "-o", out, "-f", "json")
    assert res.code == 0, res.err
    np.testing.assert_allclose(np.load(out), ref, atol=1e-6)
    got = json.loads(res.out)
    assert got["pooling"] == "mean" and got["normalized"] is True and got["max_length"] == 512
    np.testing.assert_allclose(got["similarity"], unit @ unit.T, atol=1e-6)
    from_python = embcli.Model(path).sentences(SENTENCES)
    assert from_python.to_dict() == got
    np.testing.assert_allclose(from_python.vectors, ref, atol=1e-6)  # what -o wrote

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES[1:]) + "\n")
    res = cli("sentences", "--query", SENTENCES[0], "--corpus", corpus, "-m", path, "-o", out,
              "-k", "3", "-f", "json")  # fmt: skip
    assert res.code == 0, res.err
    scores = unit[1:] @ unit[0]
    top = np.argsort(-scores, kind="stable")[:3]
    found = json.loads(res.out)["results"]
    assert [r["line"] for r in found] == (top + 1).tolist()
    np.testing.assert_allclose([r["score"] for r in found], scores[top], atol=1e-6)
    np.testing.assert_allclose(np.load(out), ref[1:], atol=1e-6)

    st = static_dirs["st-static"]  # sentence-transformers keeps MiniLM's tokenizer limit
    text = cli("sentences", "a cat", "a dog", "-m", st, "-f", "table").out
    assert "mean pooling, normalised, max 128 tokens" in text


def test_sentences_need_neither_torch_nor_transformers(static_dirs, tmp_path):
    """Through the CLI, cold (the build) and warm: a static model's sentences load no torch."""
    path = static_dirs["st-static"]
    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    probe = (
        "import sys\n"
        "from embcli.cli.main import main\n"
        "try:\n"
        f"    main(['sentences', 'a cat', 'a dog', '-m', {str(path)!r}, '-f', 'json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print([m for m in ('torch', 'transformers', 'sentence_transformers', 'model2vec')"
        " if m in sys.modules], file=sys.stderr)\n"
    )
    import os

    for _ in ("cold", "warm"):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr
        assert len(json.loads(out.stdout)["similarity"]) == 2


def test_context_on_a_static_model_is_one_line(static_dirs, cli):
    res = cli("context", "cat", "a cat sat", "the cat ran", "-m", static_dirs["m2v-f32"])
    _one_line(res, "is a static-embedding model: it has no layers")


def test_warm_queries_on_a_static_model_stay_light(static_dirs, tmp_path):
    from tests.store.test_warm_path import HEAVY, _loaded, _probe

    env = {"EMBCLI_CACHE": str(tmp_path / "c")}
    path = str(static_dirs["m2v-vq-int8"])
    assert run_subprocess("info", "-m", path, env=env).code == 0
    modules = _probe(path, ["neighbors", "paris", "-k", "5"], env)
    assert [name for name in HEAVY if _loaded(modules, name)] == []
    assert not _loaded(modules, "tokenizers")


# -- bad input ------------------------------------------------------------------------------------


def _one_line(res, needle: str) -> None:
    assert res.code == 1, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.err, res.err


def _rewrite(path: Path, **tensors: np.ndarray) -> None:
    """Replace tensors of a model2vec file through model2vec's own writer."""
    from model2vec.persistence import save_pretrained
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    stored = {**load_file(str(path / "model.safetensors")), **tensors}
    config = json.loads((path / "config.json").read_text())
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    save_pretrained(path, stored.pop("embeddings"), tok, config, create_model_card=False, **stored)


def test_bad_static_models_are_one_line_and_leave_nothing(
    static_dirs, cli, tmp_path, isolated_cache
):
    def copy(name: str) -> Path:
        dst = tmp_path / f"bad-{name}-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(static_dirs[name], dst)
        return dst

    longer = copy("m2v-vq-f32")
    from safetensors.numpy import load_file

    stored = load_file(str(longer / "model.safetensors"))
    _rewrite(longer, mapping=np.concatenate([stored["mapping"], stored["mapping"][:7]]),
             weights=np.concatenate([stored["weights"], stored["weights"][:7]]))  # fmt: skip
    rows = len(stored["mapping"]) + 7
    _one_line(cli("neighbors", "paris", "-m", longer), f"its mapping has {rows:,} rows but")

    past = copy("m2v-vq-f32")
    mapping = stored["mapping"].copy()
    mapping[5] = static_models.CLUSTERS + 3
    _rewrite(past, mapping=mapping)
    _one_line(cli("info", "-m", past), "mapping[5] = 43 points past the 40 stored rows")

    no_tok = copy("m2v-f32")
    (no_tok / "tokenizer.json").unlink()
    _one_line(cli("info", "-m", no_tok), "has no tokenizer.json")

    nested = copy("st-static-nested")
    (nested / "0_StaticEmbedding" / "tokenizer.json").unlink()
    _one_line(cli("info", "-m", nested), "has no 0_StaticEmbedding/tokenizer.json")

    cut = copy("m2v-f32")
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    _one_line(cli("info", "-m", cut), "truncated")

    entries = (
        [p for p in isolated_cache.iterdir() if "--" in p.name] if isolated_cache.exists() else []
    )
    assert entries == []


def test_no_output_head_positions_nor_size(static_dirs, cli):
    m = ("-m", static_dirs["m2v-f32"])
    _one_line(
        cli("undertrained", *m), "is a static-embedding model (model2vec): it has no output head"
    )
    _one_line(cli("positions", *m), "is a static-embedding model: it has no position table")
    _one_line(cli("size", static_dirs["st-static"]), "is a static-embedding model: its token table")


def test_editing_a_module_folder_rebuilds(static_dirs, tmp_path):
    nested = tmp_path / "nested"
    shutil.copytree(static_dirs["st-static-nested"], nested)
    first = resolve(str(nested)).key(None)
    weights = nested / "0_StaticEmbedding" / "model.safetensors"
    weights.write_bytes(weights.read_bytes())  # same bytes, new mtime
    import os

    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert resolve(str(nested)).key(None) != first


# -- the Hub --------------------------------------------------------------------------------------


def _header_end(data: bytes) -> int:
    return 8 + struct.unpack("<Q", data[:8])[0]


def _spans(data: bytes, names: list[str]) -> int:
    header = json.loads(data[8 : _header_end(data)])
    return sum(header[n]["data_offsets"][1] - header[n]["data_offsets"][0] for n in names)


def test_hub_reads_header_and_the_table_parts_only(static_dirs, tmp_path):
    from tests.read.test_hub import embcli as run_hub

    with HubServer() as hub:
        hub.add("static/vq", static_dirs["m2v-vq-int8"])
        hub.add("static/nested", static_dirs["st-static-nested"])
        res = run_hub(hub, tmp_path, "neighbors", "paris", "-m", "static/vq", "-f", "json")
        assert res.code == 0, res.err
        data = (static_dirs["m2v-vq-int8"] / "model.safetensors").read_bytes()
        expected = _header_end(data) + _spans(data, ["embeddings", "mapping", "weights"])
        assert hub.bytes_served("model.safetensors") == expected
        local = embcli.load(static_dirs["m2v-vq-int8"]).neighbors("paris", k=10).to_dict()
        assert json.loads(res.out)["neighbors"] == local["neighbors"]

        res = run_hub(hub, tmp_path, "info", "-m", "static/nested", "-f", "json")
        assert res.code == 0, res.err
        name = "0_StaticEmbedding/model.safetensors"
        data = (static_dirs["st-static-nested"] / name).read_bytes()
        assert hub.bytes_served(name) == _header_end(data) + _spans(data, ["embedding.weight"])
        info = json.loads(res.out)
        assert info["kind"] == "hub" and info["static"]["folder"] == "0_StaticEmbedding"
        assert hub.bytes_served("0_StaticEmbedding/tokenizer.json") > 0


def test_many_sentences_are_written_not_compared_all_against_all(static_dirs, cli, tmp_path):
    """Above ``MATRIX_LIMIT`` sentences there is no N x N cosine table: without ``-o`` that is
    said before anything runs (exit 2); with it the vectors are written, equal to the
    library's, and the result says there is no table."""
    from embcli.ask.sentences import MATRIX_LIMIT

    path = static_dirs["m2v-f32"]
    lines = [f"{SENTENCES[i % len(SENTENCES)]} {i}" for i in range(MATRIX_LIMIT + 1)]
    file = tmp_path / "many.txt"
    file.write_text("\n".join(lines) + "\n")
    refused = cli("sentences", "--file", file, "-m", path)
    assert refused.code == 2 and refused.out == ""
    assert f"{MATRIX_LIMIT + 1:,} sentences make a" in refused.err and "-o FILE.npy" in refused.err
    out = tmp_path / "v.npy"
    res = cli("sentences", "--file", file, "-m", path, "-o", out, "-f", "json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["similarity"] is None and len(got["sentences"]) == MATRIX_LIMIT + 1
    np.testing.assert_allclose(np.load(out)[:3], library_encode(path, lines[:3]), atol=1e-6)
