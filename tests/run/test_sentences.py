"""``embcli sentences`` against sentence-transformers itself, run in the test on the same model.

The reference is ``SentenceTransformer(model_dir, device="cpu").encode``; the cosines it implies
are computed here in float64. Pooling modes are checked one by one against sentence-transformers'
own ``Pooling`` module on random token vectors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

SENTENCES = [
    "A man is eating food.",
    "A man is eating bread.",
    "  A plane is taking off.  ",
    "The new movie is awesome, said nobody.",
    "word " * 300,  # longer than MiniLM's max_seq_length (256): truncated, like encode does
]


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


def cosines(vectors: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


def test_similarity_and_vectors_equal_sentence_transformers(minilm_dir, st_model, cli, tmp_path):
    out = tmp_path / "vecs.npy"
    res = cli("sentences", "-m", minilm_dir, *SENTENCES, "-f", "json", "--output", out)
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert set(data) == {"model", "pooling", "normalized", "max_length", "sentences", "similarity"}
    assert data["pooling"] == "mean" and data["normalized"] is True and data["max_length"] == 256
    assert data["sentences"] == SENTENCES
    assert "truncated" in res.err and "#4" in res.err  # the long one, said on stderr
    ref = st_model.encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(np.array(data["similarity"]), cosines(ref), atol=1e-5)
    ours = np.load(out)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_query_ranks_corpus_lines_like_sentence_transformers(minilm_dir, st_model, cli, tmp_path):
    lines = [
        "How to reset a forgotten password",
        "",
        "Opening hours of the shop",
        "Change your password in the account settings",
        "The weather is nice today",
        "Our refund policy",
    ]
    corpus = tmp_path / "faq.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    query = "how do I reset my password"
    res = cli(
        "sentences",
        "-m",
        minilm_dir,
        "--query",
        query,
        "--corpus",
        corpus,
        "-k",
        "3",
        "-f",
        "json",
        "-o",
        tmp_path / "c.npy",
    )
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["query"] == query and data["pooling"] == "mean"
    texts = [t for t in lines if t]
    numbers = [n for n, t in enumerate(lines, 1) if t]
    ref = st_model.encode([query, *texts], convert_to_numpy=True)
    scores = cosines(ref)[0, 1:]
    order = np.argsort(-scores, kind="stable")[:3]
    assert [r["line"] for r in data["results"]] == [numbers[i] for i in order]
    assert [r["text"] for r in data["results"]] == [texts[i] for i in order]
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    np.testing.assert_allclose([r["score"] for r in data["results"]], scores[order], atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), ref[1:], atol=1e-5)


@pytest.mark.parametrize("mode", ["mean", "cls", "max", "lasttoken", "mean_sqrt_len_tokens"])
def test_pooling_modes_equal_sentence_transformers_pooling(mode):
    from sentence_transformers.models import Pooling

    from embcli.run.sentences import pool

    torch.manual_seed(0)
    hidden = torch.randn(4, 7, 16)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] * 5 + [0] * 2, [1] + [0] * 6])
    ref = Pooling(16, pooling_mode=mode)({"token_embeddings": hidden, "attention_mask": mask})
    name = {"mean_sqrt_len_tokens": "mean_sqrt_len"}.get(mode, mode)
    ours = pool(hidden, mask, [name])
    np.testing.assert_allclose(ours.numpy(), ref["sentence_embedding"].numpy(), atol=1e-6)


def test_recipe_read_from_modules_json(model_copy):
    from embcli.run.sentences import read_recipe

    d = model_copy("bert")
    assert read_recipe(d).configured is False
    (d / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True})
    )
    (d / "sentence_bert_config.json").write_text('{"max_seq_length": 12}')
    recipe = read_recipe(d)
    assert (recipe.pooling, recipe.normalize, recipe.max_length) == (["cls", "max"], True, 12)


@pytest.mark.slow  # torch
def test_model_without_configuration_mean_pools_and_says_so(model_dirs, cli):
    from transformers import AutoModel, AutoTokenizer

    d = model_dirs["bert"]
    texts = ["the king and the queen", "cats and dogs are animals here"]
    res = cli("sentences", "-m", d, *texts, "-f", "json")
    assert res.code == 0, res.err
    assert "no sentence-transformers configuration" in res.err and "mean pooling" in res.err
    data = json.loads(res.out)
    assert data["pooling"] == "mean" and data["normalized"] is False
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModel.from_pretrained(d, dtype=torch.float64).eval()
    vecs = []
    for t in texts:  # one at a time: no padding at all
        with torch.no_grad():
            h = model(**tok(t, return_tensors="pt")).last_hidden_state[0]
        vecs.append(h.mean(0).numpy())
    np.testing.assert_allclose(np.array(data["similarity"]), cosines(np.stack(vecs)), atol=1e-5)


def test_bad_input_is_one_line(minilm_dir, cli, tmp_path):
    from tests import glove

    vec = glove.write_text(tmp_path / "glove.txt", limit=50)
    cases = [
        (("sentences", "-m", vec, "a b"), 1, "no model to run"),
        (("sentences", "-m", minilm_dir, "ok", " "), 2, "sentence 1 is empty"),
        (("sentences", "-m", minilm_dir), 2, "one or more sentences"),
        (("sentences", "-m", minilm_dir, "--query", "x"), 2, "--query and --corpus"),
        (("sentences", "-m", minilm_dir, "a", "-o", tmp_path / "v.txt"), 2, ".npy"),
        (
            ("sentences", "-m", minilm_dir, "--query", "x", "--corpus", tmp_path / "none"),
            1,
            "cannot read",
        ),
    ]
    for args, code, needle in cases:
        res = cli(*args)
        lines = res.err.strip().splitlines()
        assert res.code == code, (args, res.err)
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.err, res.err


def test_api_and_cli_share_the_input_checks(minilm_dir, cli, tmp_path, monkeypatch):
    """Checked before the model loads, in embcli.run.sentences, for both surfaces."""
    import embcli
    from embcli.errors import UsageProblem
    from embcli.run import sentences as run_sentences

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(run_sentences, "encoder", no_model)
    model = embcli.Model(minilm_dir)
    cases = [([], "one or more sentences"), (["ok", " "], "sentence 1 is empty"),
             ("one string", "not one string")]  # fmt: skip
    for texts, needle in cases:
        with pytest.raises(UsageProblem, match=needle):
            model.sentences(texts)
    with pytest.raises(UsageProblem, match="query is empty"):
        run_sentences.search_corpus(str(minilm_dir), " ", [(1, "a")], 3)
    with pytest.raises(UsageProblem, match="line 4 is empty"):
        run_sentences.search_corpus(str(minilm_dir), "q", [(1, "a"), (4, "  ")], 3)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    for args, needle in (
        (("ok", " "), "sentence 1 is empty"),
        (("--query", " ", "--corpus", blank), "query is empty"),
        (("--query", "q", "--corpus", blank), f"{blank} has no non-blank lines"),
    ):
        res = cli("sentences", "-m", minilm_dir, *args)
        assert res.code == 2 and res.err.strip().count("\n") == 0 and needle in res.err, res.err
