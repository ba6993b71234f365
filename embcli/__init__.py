"""embcli: explore the token-embedding tables of pretrained language models.

The package follows the path of a question, and imports point only down it:

- ``embcli.read``   bytes and facts from outside (safetensors headers, checkpoints, the Hub,
  configs, tokenizers, word-vector files)
- ``embcli.store``  the normalised on-disk cache and ``EmbeddingTable``, its one owner
- ``embcli.ask``    the questions as functions over arrays (neighbours, analogies, sizes, ...)
- ``embcli.draw``   projections and pictures
- ``embcli.cli``    the Typer commands: parse, call, render

The warm path (a query answered from the cache) imports only numpy and the standard library.
"""

__version__ = "0.1.0"
