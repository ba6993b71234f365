"""Stage "run the model": contextual vectors and sentence vectors from a real forward pass.

This is the only package that imports torch and transformers at module level; the commands that
need it (``context``, ``sentences``) import it lazily, so every other command's warm path stays
free of both. Importing it without them installed gives a one-line error naming the extra.
"""

from __future__ import annotations

from embcli.errors import EmbcliError

try:
    import torch  # noqa: F401
    import transformers  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise EmbcliError(
        f"running the model needs torch and transformers ({exc.name} is missing)",
        'pip install "embcli[torch]"',
    ) from None
