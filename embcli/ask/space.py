"""The space a question is scored in: the table through none, or ``center`` / ``remove_pcs`` /
``remove_axis``.

The API resolves those options once per question into a :class:`~embcli.store.space.Space`
(:func:`space_of`: one :class:`~embcli.store.space.Transform`, the table's rows seen through it)
and hands that space to the question (``answers``, ``axis``, ``weat``, the word plot), so they
all agree on what "the table with the gender axis removed" is, none builds a transform of its
own, and none makes a transformed copy of the table (:mod:`embcli.store.space`).
``remove_axis`` is the neutralise step of hard debiasing (Bolukbasi et al., 2016): a direction,
built from word pairs the way ``embcli axis`` builds one (method ``pca``, in the table after the
other two options), projected out of every row before the rows are normalised again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.errors import UnresolvedWord, UsageProblem
from embcli.store.table import EmbeddingTable, Space, Transform

if TYPE_CHECKING:
    from embcli.ask.directions import Direction

#: What ``remove_axis`` may be: pairs as :func:`embcli.ask.pairs.pairs_from` reads them, a
#: :class:`~embcli.ask.directions.Direction` built already, or a vector of the table's width.
AxisSpec = Any


def space_of(
    table: EmbeddingTable,
    center: bool = False,
    remove_pcs: int = 0,
    remove_axis: AxisSpec = None,
    pool: bool = False,
) -> tuple[Space, Direction | None]:
    """The rows of ``table`` through the options (see the module's doc), and the direction
    ``remove_axis`` removed (None without it; its ``missing`` words are the caller's to say).

    ``table.transform(center, remove_pcs)`` is asked once: the axis is built in that table,
    then projected out of it. ``pool`` applies to the words of the pairs ``remove_axis`` is
    built from; a problem with them is said as ``remove_axis: ...``.
    """
    base = table.transform(center, remove_pcs)
    if remove_axis is None:
        return table.space(base), None
    direction = removal_axis(table, remove_axis, base, pool)
    return table.space(without_axis(base, direction.vector, direction.label())), direction


def without_axis(base: Transform, axis: np.ndarray, label: str = "") -> Transform:
    """``base``, then ``axis`` projected out too.

    The axis is normalised and rounded to float32 first: a rebuilt axis that differs in its last
    bits gives the same transform, so the same derived files (named by the transform's key). It
    is then made orthogonal to what ``base`` removes already (:meth:`Transform.removing`); an
    axis that lies in those components has no direction left to remove, which is said. (With
    ``remove_pcs`` the components themselves may differ in their last bits between machines
    or BLAS thread counts; they are kept in the entry, so the key is stable where they are.)
    """
    g = linalg.unit_rows(np.asarray(axis, np.float64).reshape(-1))
    g = g.astype(np.float32).astype(np.float64)
    left = g if base.components is None else g - base.components.T @ (base.components @ g)
    if not np.linalg.norm(left) > 1e-6:  # float32 rounding of an axis inside them is ~1e-7
        raise UsageProblem("the axis has no direction left to remove (it is zero, or lies "
                           "in the principal components removed already)")  # fmt: skip
    return base.removing(g[None, :], "axis removed" + (f" ({label})" if label else ""))


def removal_axis(
    table: EmbeddingTable, remove_axis: AxisSpec, base: Transform, pool: bool = False
) -> Direction:
    """The direction ``remove_axis`` projects out: built from pairs (method ``pca``) in the
    table through ``base``, or the given ``Direction`` or vector. A problem is said as
    ``remove_axis: ...`` (``param`` set, so the CLI says ``--remove-axis: ...``)."""
    from embcli.ask.directions import Direction, build  # here: not on every query's path

    if isinstance(remove_axis, Direction):
        return remove_axis
    try:
        if isinstance(remove_axis, np.ndarray):
            v = np.asarray(remove_axis, np.float64).reshape(-1)
            if v.shape[0] != table.shape[1]:
                raise UsageProblem(f"the axis to remove has {v.shape[0]} numbers; this table's "
                                   f"rows have {table.shape[1]}")  # fmt: skip
            return Direction(linalg.unit_rows(v), "vector")
        return build(table, remove_axis, method="pca", pool=pool, space=table.space(base))
    except (UsageProblem, UnresolvedWord) as exc:
        raise type(exc)(f"remove_axis: {exc.message}", exc.hint, param="remove_axis") from None
