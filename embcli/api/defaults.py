"""The API's defaults, a leaf module: ``api.model`` and the CLI read them without importing
the package's ``__init__`` (which names every module of the API)."""

DEFAULT_MODEL = "openai-community/gpt2"
#: What a picture may be written as; a page adds HTML (an interactive plot).
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
PAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".html")
