"""The transform a question is scored through: none, or ``--center`` / ``--remove-pcs`` /
``--remove-axis``.

Every question that takes those options (neighbours, similarity, analogies, plots, axes, WEAT)
gets its :class:`~embcli.store.space.Transform` from :func:`transform_of` and scores rows through
``EmbeddingTable.space(transform)``, so they all agree on what "the table with the gender axis
removed" is, and none makes a transformed copy of the table (:mod:`embcli.store.space`).
``--remove-axis`` is the neutralise step of hard debiasing (Bolukbasi et al., 2016): a direction,
built from word pairs the way ``embcli axis`` builds one (method ``pca``, in the table after the
other two options), projected out of every row before the rows are normalised again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.errors import UsageProblem
from embcli.store.table import EmbeddingTable, Space, Transform

if TYPE_CHECKING:
    from embcli.ask.axis import Direction

#: What ``remove_axis`` may be: pairs as :func:`embcli.ask.axis.pairs_from` reads them, a
#: :class:`~embcli.ask.axis.Direction` built already, or a vector of the table's width.
AxisSpec = Any


def transform_of(
    table: EmbeddingTable,
    center: bool = False,
    remove_pcs: int = 0,
    remove_axis: AxisSpec = None,
    pool: bool = False,
) -> Transform:
    """What the options do to a raw vector of ``table`` (see the module's doc); ``pool``
    applies to the words of the pairs ``remove_axis`` is built from."""
    base = table.transform(center, remove_pcs)
    if remove_axis is None:
        return base
    direction = removal_axis(table, remove_axis, center, remove_pcs, pool)
    return without_axis(base, direction.vector, direction.label())


def space_of(
    table: EmbeddingTable,
    center: bool = False,
    remove_pcs: int = 0,
    remove_axis: AxisSpec = None,
    pool: bool = False,
) -> Space:
    """The rows of ``table`` through :func:`transform_of`, ready to score queries against."""
    return table.space(transform_of(table, center, remove_pcs, remove_axis, pool))


def without_axis(base: Transform, axis: np.ndarray, label: str = "") -> Transform:
    """``base``, then ``axis`` projected out too.

    The axis is normalised and rounded to float32 first: a rebuilt axis that differs in its last
    bits gives the same transform, so the same derived files (named by the transform's key). It
    is then made orthogonal to what ``base`` removes already (:meth:`Transform.removing`); an
    axis that lies in those components has no direction left to remove, which is said. (With
    ``--remove-pcs`` the components themselves may differ in their last bits between machines
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
    table: EmbeddingTable,
    remove_axis: AxisSpec,
    center: bool = False,
    remove_pcs: int = 0,
    pool: bool = False,
) -> Direction:
    """The direction ``--remove-axis`` projects out: built from pairs (method ``pca``) in the
    table after ``center`` / ``remove_pcs``, or the given ``Direction`` or vector."""
    from embcli.ask import axis

    if isinstance(remove_axis, axis.Direction):
        return remove_axis
    if isinstance(remove_axis, np.ndarray):
        v = np.asarray(remove_axis, np.float64).reshape(-1)
        if v.shape[0] != table.shape[1]:
            raise UsageProblem(f"the axis to remove has {v.shape[0]} numbers; this table's rows "
                               f"have {table.shape[1]}")  # fmt: skip
        return axis.Direction(linalg.unit_rows(v), "vector")
    base = table.transform(center, remove_pcs)
    return axis.build(table, remove_axis, method="pca", pool=pool, transform=base)
