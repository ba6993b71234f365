"""The package's version: a leaf module, so a stage (the store records it in every entry)
reads it without importing the package's ``__init__``."""

__version__ = "0.1.0"
