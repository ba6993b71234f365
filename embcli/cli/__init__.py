"""The command-line interface: one module per command family, all thin over the library."""
