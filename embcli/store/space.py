"""A table seen through a transform, scored without a transformed copy of the table.

``--center``, ``--remove-pcs D`` and ``--remove-axis`` all change a raw row ``x`` the same way::

    T(x) = (I - C^T C)(x - m)

with ``m`` a mean (or none) and ``C`` orthonormal rows (none; the top D principal components;
an axis). A :class:`Transform` holds ``m`` and ``C``: centring is a mean and no components,
all-but-the-top a mean and D components, ``--remove-axis`` no mean and one unit axis.

Cosines with the transformed rows need no transformed copy (which for a 202,048 x 5,120 table
is 4 GB per transform). ``P = C^T C`` is symmetric, so for any query ``q``::

    q . T(x_i) = ((I - P) q) . (x_i - m) = norms_i (unit_i . q~) - q~ . m,    q~ = (I - P) q

and ``cos(q, T(x_i)) = (norms_i (unit_i . q~) - q~ . m) / (|q| |T(x_i)|)``: one matrix-vector
product with the cached unit rows, as an untransformed query costs, plus the row norms, the
transform's small parameters and one length per row (``|T(x_i)|``, V floats, computed once in
float64 and kept by the store). A :class:`Space` is that arithmetic: :meth:`Space.cosines` for
every row in float32 (to rank), :meth:`Space.exact` for a few rows in float64 (to report).

A row whose transformed length is below :data:`NO_DIRECTION` of its own length has no direction
left (what remains is the float32 rounding of the stored row, as for a word's own direction
removed from it); it scores 0 with every query, as a zero row does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embcli import linalg

NO_DIRECTION = 1e-6  # transformed length / row length below which a row has no direction left


@dataclass(frozen=True)
class Transform:
    """``T(x) = (I - C^T C)(x - mean)``: what ``--center``, ``--remove-pcs`` and
    ``--remove-axis`` do to a raw vector. ``components`` are orthonormal rows ``[d, D]``;
    either part may be None. Empty: the identity. ``name`` is its caption ("centred")."""

    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    name: str = ""

    @property
    def identity(self) -> bool:
        return self.mean is None and (self.components is None or self.components.size == 0)

    @property
    def removed(self) -> int:
        """How many directions are projected out."""
        return 0 if self.components is None else int(self.components.shape[0])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """The transformed float64 vector(s) (not normalised)."""
        return linalg.remove_top(raw, self.mean, self.components)

    def unit(self, raw: np.ndarray) -> np.ndarray:
        """``T(raw)`` normalised, for a vector or rows (float64). A zero vector stays zero (as
        a zero row does: centring does not turn it into ``-mean``), and a vector with nothing
        left after the transform (below :data:`NO_DIRECTION` of its own length) is all zeros,
        as a row with nothing left is: rounding is not a direction."""
        raw64 = np.asarray(raw, np.float64)
        moved = self.apply(raw64)
        out = linalg.unit_rows(moved)
        if not self.identity:
            length = linalg.row_lengths(raw64)
            empty = (length == 0) | (linalg.row_lengths(moved) <= NO_DIRECTION * length)
            out[empty, ...] = 0.0
        return out

    def caption(self) -> str:
        """Words for a caption: '', 'centred', 'centred, top 7 PCs removed'..."""
        return self.name

    @property
    def key(self) -> str:
        """A digest of the parameters: files derived for this transform are named by it, so a
        file can never be read back for other parameters."""
        import hashlib

        digest = hashlib.sha256()
        for part in (self.mean, self.components):
            if part is None:
                digest.update(b"-")
            else:
                arr = np.ascontiguousarray(part, dtype="<f8")
                digest.update(repr(arr.shape).encode() + arr.tobytes())
        return digest.hexdigest()[:16]

    def removing(self, directions: np.ndarray, words: str) -> Transform:
        """This transform with ``directions`` (rows, any length) projected out as well.

        The components become an orthonormal basis of everything removed (each new direction
        is orthogonalised against the ones before it; one already in their span adds nothing),
        so the result is again one projection after one shift, and scores like any other.
        ``words`` are appended to the caption ("axis he:she removed").
        """
        basis = [] if self.components is None else list(np.asarray(self.components, np.float64))
        for v in np.atleast_2d(np.asarray(directions, np.float64)):
            size = float(np.linalg.norm(v))
            for _ in range(2):  # twice: one Gram-Schmidt pass loses orthogonality to rounding
                for b in basis:
                    v = v - (v @ b) * b
            left = float(np.linalg.norm(v))
            if size > 0 and left > 1e-8 * size:
                basis.append(v / left)
        comps = np.array(basis) if basis else None
        name = ", ".join(part for part in (self.name, words) if part)
        return Transform(self.mean, comps, name)


class Space:
    """A table's rows through a :class:`Transform`, for scoring queries against.

    Built by ``EmbeddingTable.space(transform)``, which supplies the cached ``lengths``
    (``|T(x_i)|``) or ``keep``, a function that reads or computes (and keeps) them: they are
    then made on the first score, so a question that only moves its queries through the
    transform (similarity) never pays for them. The identity space is the unit rows
    themselves. Plain class (not a dataclass): it is on the warm path of every query.
    """

    def __init__(
        self,
        unit: np.ndarray,
        norms: np.ndarray,
        transform: Transform | None = None,
        lengths: np.ndarray | None = None,
        keep: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.unit = unit
        self.norms = norms
        self.transform = transform if transform is not None else Transform()
        self._lengths = lengths
        self._keep = keep
        self._inverse: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray | None:
        """``|T(x_i)|`` for every row (float64; None for the identity), made on first use."""
        if self._lengths is None and not self.transform.identity:
            t = self.transform
            self._lengths = (self._keep() if self._keep is not None
                             else linalg.transformed_lengths(self.unit, self.norms, t.mean,
                                                             t.components))  # fmt: skip
        return self._lengths

    @property
    def identity(self) -> bool:
        return self.transform.identity

    @property
    def shape(self) -> tuple[int, int]:
        rows, dim = self.unit.shape
        return int(rows), int(dim)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def inverse_lengths(self) -> np.ndarray:
        """``1 / |T(x_i)|`` (float64); 0 for zero rows (a zero row stays zero: centring does not
        turn it into ``-mean``) and rows with no direction left (see the module)."""
        if self._inverse is None:
            made = self.lengths
            assert made is not None
            lengths = np.asarray(made, np.float64)
            norms = np.asarray(self.norms, np.float64)
            alive = (norms > 0) & (lengths > NO_DIRECTION * norms)
            self._inverse = np.divide(1.0, lengths, out=np.zeros_like(lengths), where=alive)
        return self._inverse

    def query(self, raw: np.ndarray) -> np.ndarray:
        """A raw vector (or rows) as a unit query of this space: ``T(raw)``, normalised
        (float64; a vector with nothing left is all zeros, see :meth:`Transform.unit`)."""
        return self.transform.unit(raw)

    def cosines(self, queries: np.ndarray) -> np.ndarray:
        """``[Q, V]`` float32 cosines of every row with each unit query (``[Q, D]``).

        One float32 matrix product with the unit rows, as for an untransformed table; the
        transform costs three passes over the ``[Q, V]`` scores.
        """
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if self.identity:
            return q @ self.unit.T
        qt = linalg.remove_top(q, None, self.transform.components)  # (I - C^T C) q, float64
        scores = qt.astype(np.float32) @ self.unit.T
        scores *= np.asarray(self.norms, np.float32)
        if self.transform.mean is not None:
            scores -= (qt @ self.transform.mean).astype(np.float32)[:, None]
        scores *= self.inverse_lengths.astype(np.float32)
        return scores

    def exact(self, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Float64 cosines of rows ``ids`` with one unit query (to report what was ranked)."""
        q = np.asarray(query, np.float64)
        if self.identity:
            return np.asarray(self.unit[ids], np.float64) @ q
        rows = self.transform.apply(linalg.raw_rows(self.unit, self.norms, ids))
        return (rows @ q) * self.inverse_lengths[ids]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows ``ids`` transformed and normalised (float64; rows with no direction are 0)."""
        if self.identity:
            return np.asarray(self.unit[ids], np.float64)
        rows = self.transform.apply(linalg.raw_rows(self.unit, self.norms, ids))
        return rows * self.inverse_lengths[ids][:, None]
