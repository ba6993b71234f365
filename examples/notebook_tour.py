# %% [markdown]
# # A tour of embcli from Python
#
# The same questions as the `embcli` commands, as Python objects. Every result has
# `to_dict()` (the CLI's JSON), shows itself as a table in a notebook, and as a rich table
# with `rich.print(result)`. Run it cell by cell in Jupyter or VS Code, or as a script:
#
#     EMBCLI_MODEL=sentence-transformers/all-MiniLM-L6-v2 python examples/notebook_tour.py
#
# With no model named, `embcli.load()` reads `$EMBCLI_MODEL`, else `openai-community/gpt2`.

# %%
import tempfile
from pathlib import Path

import numpy as np

import embcli

t = embcli.load()  # the first call caches the table; later calls open it in milliseconds
print(t, t.shape)

# %% [markdown]
# ## Neighbours, similarity, analogies

# %%
paris = t.neighbors("paris", k=5)
paris  # noqa: B018  (a notebook shows the result as a table)
for n in paris:
    print(n.rank, n.token, round(n.cosine, 3))

# %%
sim = t.similarity("cat", "dog")
print(f"cat ~ dog: cosine {float(sim):.3f}, dot {sim.dot:.3f}")
print(t.similarity_matrix(["cat", "dog", "car"]).round(3))

# %%
answer = t.analogy("king", "man", "woman")  # king - man + woman
print(answer.formula, "=", [r.token for r in answer][:3])

# %% [markdown]
# Several words at once: a word that does not resolve is reported in `.failed`, not raised.

# %%
batch = t.neighbors(["paris", "tokyo", "defenestration"], k=3)
print([r.query for r in batch], [str(e) for e in batch.failed])

# %% [markdown]
# Candidates from a word list, and the neighbours of any vector of the table's width.

# %%
cities = ["london", "berlin", "rome", "tokyo", "banana"]
print([n.token for n in t.neighbors("paris", among=cities)])
v = t["king"] - t["man"] + t["woman"]
print([n.token for n in t.neighbors(vector=v, k=5)])

# %% [markdown]
# ## What the table is, and how text becomes rows

# %%
info = t.info()
print(info["rows"], info["dim"], info["source_dtype"])
print([(tok.token, tok.id) for tok in t.tokenize("Embeddings are lookup tables.")])

# %% [markdown]
# ## Pictures: a matplotlib Figure, shown inline by Jupyter

# %%
fig = t.plot(
    groups={
        "animals": ["cat", "dog", "horse", "cow"],
        "cities": ["paris", "rome", "tokyo", "berlin"],
        "colours": ["red", "green", "blue", "yellow"],
    }
)
fig  # noqa: B018

# %% [markdown]
# ## Benchmarks (gensim's method) and sizes from configs

# %%
scores = t.evaluate_similarity("wordsim353")
print(f"WordSim-353 Spearman {scores.spearman:.3f} over {scores['pairs']} pairs")
print(embcli.size(vocab=256_000, dim=8192, dtype="bf16").to_dict()["table_params"])

# %% [markdown]
# ## Export for gensim and the TensorBoard Projector

# %%
with tempfile.TemporaryDirectory() as tmp:
    words = [tok for tok in t.tokens[2000:8000] if tok.isalpha()]  # or leave out: all words
    written = t.export(Path(tmp) / "table.txt", words=words)
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(written.paths[0])
    print(written.rows, "rows; gensim:", [w for w, _ in kv.most_similar("king", topn=3)])
    print("embcli:", [n.token for n in t.neighbors("king", k=3, among=words, all_tokens=True)])
    t.export(Path(tmp) / "projector")  # vectors.tsv + metadata.tsv, for projector.tensorflow.org
    print(sorted(p.name for p in (Path(tmp) / "projector").iterdir()))

# %% [markdown]
# Every result is plain data underneath: `to_dict()` is exactly what `embcli ... -f json` prints.

# %%
print(paris.to_dict()["neighbors"][0])
print(np.round(t.vector("paris", unit=True)[:4], 4))
