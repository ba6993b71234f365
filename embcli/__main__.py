"""``python -m embcli`` runs the same entry point as the ``embcli`` console script."""

from embcli.cli.main import main

if __name__ == "__main__":
    main()
