"""Objects whose unpickling runs code (as any pickle may): what a restricted unpickler must
refuse by the global it names, without running it. Shared by the reader tests."""

from __future__ import annotations

import os
from pathlib import Path


class Shell:
    """Unpickling this runs a shell command that touches ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Evaluate:
    """Unpickling this evaluates Python that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))
