"""Stage 2, storing: a model's table built once into the normalised on-disk cache, then opened.

``build`` writes an entry (the cold path), ``cache`` keeps entries whole and atomic, ``load``
turns ``--model`` into an entry, and ``table.EmbeddingTable`` owns the memory-mapped result.
"""
