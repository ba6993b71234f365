"""embcli: explore the token-embedding tables of pretrained language models from the shell.

The package is split so that the warm path (a query answered from the on-disk cache) imports only
numpy, tokenizers and the standard library:

- ``errors``      exceptions that carry a one-line message and an exit code
- ``safetensors_header``  parse a safetensors header and map one tensor's bytes
- ``checkpoint``  the weight files of a model directory: names, shapes, row-chunked reads
- ``modelconfig`` facts from ``config.json`` (vocabulary, width, tying, position tables)
- ``locate``      which tensor is the input-embedding table
- ``tokens``      display strings for token ids (GPT-2 byte-level, SentencePiece, WordPiece)
- ``sources``     turn ``--model`` into a local directory or a Hub repo
- ``cache``       the normalised on-disk cache: atomic build, validation, listing
- ``table``       ``EmbeddingTable``, the one owner of vectors, tokens and the tokenizer
- ``cli``         the Typer commands (thin: parse, call, render)
"""

__version__ = "0.1.0"
