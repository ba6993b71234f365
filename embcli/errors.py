"""Exceptions that the CLI turns into one line on stderr and an exit code.

Every error a user can cause is an :class:`EmbcliError`: its message says what is wrong and, where
possible, what to do. The CLI prints ``embcli: <message>`` and exits with ``exit_code``; tracebacks
appear only with ``--debug``. The exit codes are part of the documented interface:

0 ok, 1 model or I/O error, 2 usage error, 3 a word that cannot be resolved to a token,
4 part of a long job failed and the rest was answered (``history``: a checkpoint that could not
be read), 5 the model's own library (transformers) cannot load or run it, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations


class EmbcliError(Exception):
    """A problem with a model, a file or the cache (exit code 1).

    ``param`` is the Python parameter the message is about (``"remove_pcs"``), spelled in the
    message as Python spells it (``remove_pcs must be 0 or more, not -1``); None when it names
    none. The CLI says the same line with its option's spelling (``--remove-pcs``).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.param = param

    def one_line(self) -> str:
        """The message and hint joined into the single line shown on stderr."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageProblem(EmbcliError):
    """Arguments that cannot work together (exit code 2, like click's own usage errors)."""

    exit_code = 2


class UnresolvedWord(EmbcliError):
    """A word that maps to no single usable token (exit code 3)."""

    exit_code = 3


class Interrupted(EmbcliError):
    """Ctrl-C: the message says what was, or was not, written (exit code 130)."""

    exit_code = 130


class CacheProblem(EmbcliError):
    """A cache entry that is partial, corrupt or of another format version."""


class ModelFailure(EmbcliError):
    """transformers itself cannot load or run the model (exit code 5): the line names the
    architecture and transformers' own error, so it is not mistaken for embcli's."""

    exit_code = 5


class PartlyFailed(EmbcliError):
    """Some of a long job's parts failed; the others were answered (exit code 4)."""

    exit_code = 4


class HubProblem(EmbcliError):
    """A request to the Hugging Face Hub that failed (exit code 1); the subclasses say why, so a
    Python caller can tell a missing model from a missing network."""


class HubNotFound(HubProblem):
    """No such model repository, or no such file in it."""


class HubGated(HubProblem):
    """A gated or private repository this token may not read (a licence to accept, HF_TOKEN)."""


class HubNotAuthorised(HubProblem):
    """The Hub refused the token (401, 403): a private repository, or a token without rights."""


class HubRevisionNotFound(HubNotFound):
    """The repository exists, but not the revision (branch, tag or commit) asked for."""


class HubOffline(HubProblem):
    """``HF_HUB_OFFLINE`` is set and what is asked for is not cached."""


class HubUnreachable(HubProblem):
    """No answer from the Hub endpoint: no network, a name that does not resolve, a refused
    connection, or a server that accepts and stays silent past the timeout."""
