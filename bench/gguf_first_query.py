"""Issue 18: a first and a warm query on a Llama-3.2-1B-shaped Q4_K_M GGUF; bytes from the Hub.

Writes the file itself under a temporary directory (deleted at the end), with llama.cpp's own
writer (``gguf.GGUFWriter``): ``token_embd.weight`` 128,256 x 2,048 in Q4_K, ``output.weight``
in Q6_K, one more Q4_K tensor and a norm, and a 128,256-token byte-level BPE vocabulary with
~128k merges (pseudo-words, prefix-closed so every merge is valid; Llama 3's real one has 280k
merges) and 256 control tokens. Blocks are known-random bytes whose f16 scale fields are set to
small values, so every row is finite.

Prints:
- dequantising the table alone, in process: one ``gguf.quants.dequantize`` call per
  8,192-row block on one thread, against embcli's pieces of 2^19 values over a thread pool;
- the first query (the cache build), wall time, peak VmRSS and peak RssAnon;
- warm neighbors/similarity/analogy against the floor (numpy, memory-map the cached unit
  matrix, one mat-vec, one argpartition), interleaved medians; goal <= 1.5x;
- the same file in a Hub repo on the tests' local server (beside a Q8_0 file): bytes fetched by
  a first ``embcli info --quant Q4_K_M`` against the file's size.
Needs ~1.5 GB free disk, ~3 GB free RAM; runs in 2-4 minutes on 2 cores.
Run: python bench/gguf_first_query.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import embcli, run_polled
from warm_maverick import pseudo_words, warm_ratios

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS, DIM = 128_256, 2_048
SPECIALS = 256  # Llama 3's <|begin_of_text|>, <|eot_id|>, reserved special tokens...


def vocabulary(rows: int) -> tuple[list[str], list[int], list[str]]:
    """``(tokens, token types, merges)``: byte symbols, then word pieces with every prefix (so
    each merge ``prefix + last symbol`` is valid), then the control tokens."""
    from embcli.read.tokens import byte_decoder

    regular = rows - SPECIALS
    tokens: dict[str, None] = dict.fromkeys(byte_decoder())
    merges: list[str] = []
    for word in pseudo_words(regular):
        for piece in ("\u0120" + word, word):  # " king", and "king" at the start of a text
            for end in range(2, len(piece) + 1):
                if len(tokens) >= regular:
                    break
                if piece[:end] not in tokens:
                    tokens[piece[:end]] = None
                    merges.append(f"{piece[: end - 1]} {piece[end - 1]}")
        if len(tokens) >= regular:
            break
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(SPECIALS - len(names))]
    out = [*tokens, *names]
    types = [1] * len(tokens) + [3] * len(names)
    return out, types, merges


def random_blocks(rows: int, width: int, qtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random bytes of ``qtype`` blocks with small, finite f16 scales (Q4_K: d and dmin at the
    start of each 144-byte block; Q6_K: d at the end of each 210-byte block)."""
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]
    raw = rng.integers(0, 256, (rows, width // block * size), np.uint8)
    blocks = raw.reshape(rows, width // block, size)
    scales = rng.uniform(1e-4, 1e-3, (*blocks.shape[:2], 2)).astype(np.float16).view(np.uint8)
    if qtype == "Q4_K":
        blocks[..., 0:4] = scales.reshape(rows, -1, 4)
    elif qtype == "Q6_K":
        blocks[..., 208:210] = scales[..., :2]
    else:
        raise ValueError(qtype)
    return raw


def write_model(path: Path, table_type: str = "Q4_K") -> tuple[np.ndarray, str]:
    """The 1B-shaped file; returns the table's bytes and a word of the vocabulary."""
    import gguf

    rng = np.random.default_rng(0)
    tokens, types, merges = vocabulary(ROWS)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("Bench-1B-Shaped")
    w.add_file_type(15 if table_type == "Q4_K" else 7)  # MOSTLY_Q4_K_M / MOSTLY_Q8_0
    w.add_context_length(131_072)
    w.add_embedding_length(DIM)
    w.add_block_count(16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(ROWS - SPECIALS)
    w.add_eos_token_id(ROWS - SPECIALS + 2)
    if table_type == "Q4_K":
        table = random_blocks(ROWS, DIM, "Q4_K", rng)
    else:  # Q8_0 by the package's own quantiser
        values = rng.normal(0, 0.02, (ROWS, DIM)).astype(np.float32)
        table = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
    qt = gguf.GGMLQuantizationType
    w.add_tensor("token_embd.weight", table, raw_dtype=qt[table_type])
    w.add_tensor("blk.0.attn_q.weight", random_blocks(DIM, DIM, "Q4_K", rng), raw_dtype=qt.Q4_K)
    w.add_tensor("output_norm.weight", np.ones(DIM, np.float32))
    w.add_tensor("output.weight", random_blocks(ROWS, DIM, "Q6_K", rng), raw_dtype=qt.Q6_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    word = next(t[1:] for t in tokens[5000:] if t.startswith("\u0120") and len(t) > 4)
    return table, word


def dequantise_alone(path: Path, repeat: int = 3) -> None:
    """The table's rows three ways (best of ``repeat``): one ``dequantize`` call per 8,192-row
    block on one thread; embcli's pieces of 2^19 values on one thread; the pieces over the
    thread pool (what a build does)."""
    import gguf

    from embcli.read.byte_source import LocalFile
    from embcli.read.gguf_file import Dequantizer, GGUFModel, dequantize_rows

    t = GGUFModel(LocalFile(path)).info("token_embd.weight")
    raw = np.memmap(path, np.uint8, "r", offset=t.start, shape=(ROWS, t.nbytes // ROWS))
    qtype = int(gguf.GGMLQuantizationType.Q4_K)
    np.asarray(raw).sum()  # the file in the page cache for all three

    def best(step: object) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            for lo in range(0, ROWS, 8192):
                step(raw[lo : lo + 8192])  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    whole = best(lambda block: dequantize_rows(block, qtype))
    one, pool = Dequantizer(qtype, DIM, threads=1), Dequantizer(qtype, DIM)
    pieces, threaded = best(one), best(pool)
    pool.close()
    print(f"dequantise Q4_K {ROWS:,} x {DIM:,} (best of {repeat}): one call per 8,192-row block "
          f"{whole:5.2f} s; pieces of 2^19 values {pieces:5.2f} s ({whole / pieces:.1f}x); "
          f"pieces over {pool.threads} threads {threaded:5.2f} s "
          f"({whole / threaded:.1f}x)")  # fmt: skip


def hub_bytes(q4: Path, tmp: Path) -> None:
    """A first ``info --quant Q4_K_M`` on a Hub repo holding Q4_K_M and Q8_0 files."""
    from tests.hub_server import HubServer

    repo = tmp / "repo"
    repo.mkdir()
    q4.rename(repo / "Bench-1B-Q4_K_M.gguf")
    write_model(repo / "Bench-1B-Q8_0.gguf", "Q8_0")
    (repo / "README.md").write_text("# Bench 1B GGUF\n")
    size = (repo / "Bench-1B-Q4_K_M.gguf").stat().st_size
    from embcli.read.byte_source import LocalFile
    from embcli.read.gguf_file import GGUFFile

    header = GGUFFile(LocalFile(repo / "Bench-1B-Q4_K_M.gguf")).header_end
    with HubServer() as hub:
        hub.add("bench/Bench-1B-GGUF", repo)
        for path in repo.iterdir():  # HubServer holds the bytes in memory
            path.unlink()
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp / "hf"),
               "EMBCLI_CACHE": str(tmp / "hub-cache")}  # fmt: skip
        cmd = [*embcli(), "info", "-m", "bench/Bench-1B-GGUF", "--quant", "Q4_K_M"]
        res = run_polled(cmd, env)
        got = hub.bytes_served("Bench-1B-Q4_K_M.gguf")
        other = hub.bytes_served("Bench-1B-Q8_0.gguf")
    table = ROWS * DIM // 256 * 144
    print(f"hub: first info --quant Q4_K_M in {res['wall']:.1f} s: {got / 1e6:,.1f} MB of the "
          f"file's {size / 1e6:,.1f} MB ({got / size:.3f}); the table is {table / 1e6:,.1f} "
          f"MB, so {(got - table) / 1e6:,.2f} MB of header reads for a {header / 1e6:,.2f} MB "
          f"header; Q8_0 file: {other} bytes")  # fmt: skip


def compiled() -> None:
    """embcli's bytecode, as an installed package has it: with ``PYTHONDONTWRITEBYTECODE`` set
    (as on the CI machine) every warm process would otherwise compile ~30 modules (~0.15 s)."""
    import compileall

    import embcli

    compileall.compile_dir(str(Path(embcli.__file__).parent), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    compiled()
    with tempfile.TemporaryDirectory(prefix="embcli-gguf-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "Bench-1B-Q4_K_M.gguf"
        start = time.perf_counter()
        _, word = write_model(path)
        print(f"file: {path.stat().st_size / 1e6:,.1f} MB written in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        dequantise_alone(path)
        env = {"EMBCLI_CACHE": str(tmp / "cache")}
        build = run_polled([*embcli(), "neighbors", word, "-m", str(path), "-k", "10"], env)
        print(f"first query (build): {build['wall']:.1f} s, peak VmRSS {build['rss'] / 1e6:,.0f} "
              f"MB, peak RssAnon {build['anon'] / 1e6:,.0f} MB")  # fmt: skip
        from embcli.read.byte_source import LocalFile
        from embcli.read.gguf_file import GGUFModel

        vocab = GGUFModel(LocalFile(path)).vocabulary()
        assert vocab is not None
        row = vocab.pieces.index("\u0120" + word)
        words = {
            "neighbors": [word],
            "similarity": [word, f"#{row + 1}"],
            "analogy": [word, f"#{row + 1}", f"#{row + 2}"],
        }
        warm_ratios("Q4_K_M 1B-shaped", str(path), row, words, env, args.repeat, 1.5)
        hub_bytes(path, tmp)


if __name__ == "__main__":
    main()
