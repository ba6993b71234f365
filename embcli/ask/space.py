"""The table a question is scored in: as cached, or after ``--center`` / ``--remove-pcs`` /
``--remove-axis``.

Every question that takes those options (neighbours, similarity, analogies, plots, axes, WEAT)
gets its matrix and the transform its query vectors go through from :meth:`Space.of`, so they all
agree on what "the table with the gender axis removed" is. ``--remove-axis`` is the neutralise
step of hard debiasing (Bolukbasi et al., 2016): a direction, built from word pairs the way
``embcli axis`` builds one (method ``pca``, in the table after the other two options), projected
out of every row before the rows are normalised again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embcli import linalg
from embcli.errors import UsageProblem
from embcli.store.table import EmbeddingTable, Transform

if TYPE_CHECKING:
    from embcli.ask.axis import Direction

#: What ``remove_axis`` may be: pairs as :func:`embcli.ask.axis.pairs_from` reads them, a
#: :class:`~embcli.ask.axis.Direction` built already, or a vector of the table's width.
AxisSpec = Any


class Space:
    """``unit`` (the matrix rows are scored against), ``transform`` (what a query vector goes
    through) and ``removed`` (the axis projected out, as built, or None).

    A plain class: this module is on the warm path of every query.
    """

    def __init__(self, unit: np.ndarray, transform: Transform, removed: Direction | None) -> None:
        self.unit = unit
        self.transform = transform
        self.removed = removed

    @classmethod
    def of(
        cls,
        table: EmbeddingTable,
        center: bool = False,
        remove_pcs: int = 0,
        remove_axis: AxisSpec = None,
        pool: bool = False,
    ) -> Space:
        """The matrix and transform of a question (see the module's doc); ``pool`` applies to
        the words of the pairs ``remove_axis`` is built from."""
        if remove_axis is None:
            unit, transform = table.transformed(center, remove_pcs)
            return cls(unit, transform, None)
        direction = removal_axis(table, remove_axis, center, remove_pcs, pool)
        unit, transform = table.transformed(center, remove_pcs, direction.vector,
                                            direction.label())  # fmt: skip
        return cls(unit, transform, direction)

    @property
    def caption(self) -> str:
        return self.transform.caption()


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
    _, base = table.transformed(center, remove_pcs)
    return axis.build(table, remove_axis, method="pca", pool=pool, transform=base)
