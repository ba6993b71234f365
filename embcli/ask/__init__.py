"""Stage 3, asking: the questions, as plain functions over a table's arrays.

Words to rows, neighbours/similarity/analogy, benchmark evaluation and table sizes. Everything
here takes arrays or an ``EmbeddingTable`` and returns data; printing belongs to ``embcli.cli``.
"""
