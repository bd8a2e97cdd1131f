"""Learning-rate schedules over a run: the slanted triangular one of ULMFiT (Howard & Ruder 2018).

A schedule here is a callable ``schedule(fraction, epoch) -> learning rate``, with
``fraction`` the share of the run done (of its steps, or of its time budget): the
form :meth:`rnnkit.apps.framework.Recipe.schedule` returns and the apps' training
clock calls before every batch.  :meth:`SlantedTriangular.at_step` gives the
paper's own step-counting formula.

>>> stlr = SlantedTriangular(0.01)
>>> [round(stlr(f) / 0.01 * 32, 6) for f in (0.0, 0.05, 0.1, 0.55, 1.0)]   # in units of the lowest rate
[1.0, 16.5, 32.0, 16.5, 1.0]
"""
from __future__ import annotations

import math
from typing import Any

from .._validation import check_positive_int, check_real
from ..errors import ConfigError

__all__ = ["SlantedTriangular"]


class SlantedTriangular:
    r"""A short linear rise to ``learning_rate``, then a long linear decay (ULMFiT's STLR).

    Howard & Ruder (2018), equation 3, over :math:`T` training steps:

    .. math::
        \mathit{cut} = \lfloor T \cdot \mathit{cut\_frac} \rfloor, \qquad
        p = \begin{cases} t / \mathit{cut} & t < \mathit{cut} \\
            1 - \dfrac{t - \mathit{cut}}{\mathit{cut} \cdot (1 / \mathit{cut\_frac} - 1)} & \text{otherwise}
            \end{cases}, \qquad
        \eta_t = \eta_{max} \, \frac{1 + p\,(\mathit{ratio} - 1)}{\mathit{ratio}}

    so the rate climbs from :math:`\eta_{max} / \mathit{ratio}` to :math:`\eta_{max}` over
    the first ``cut_frac`` of the run and falls back over the rest.  Called with the
    fraction :math:`f = t / T` of the run done (a time budget's fraction, too), the
    same line without the floor: :math:`p = f / \mathit{cut\_frac}` while
    :math:`f < \mathit{cut\_frac}`, else :math:`(1 - f) / (1 - \mathit{cut\_frac})`.

    Args:
        learning_rate: :math:`\eta_{max}`, the peak.
        cut_frac: the share of the run spent rising, in (0, 1) (default 0.1, the paper's).
        ratio: how much smaller the lowest rate is than the peak, >= 1 (default 32, the paper's).

    >>> SlantedTriangular(0.01).at_step(0, 1000), SlantedTriangular(0.01).at_step(100, 1000)
    (0.0003125, 0.01)
    """

    def __init__(self, learning_rate: float, cut_frac: float = 0.1, ratio: float = 32.0) -> None:
        owner = type(self).__name__
        self.learning_rate = check_real(owner, "learning_rate", learning_rate, positive=True)
        self.cut_frac = check_real(owner, "cut_frac", cut_frac, positive=True)
        if not self.cut_frac < 1:
            raise ConfigError(f"{owner}: `cut_frac` must be in (0, 1), got {cut_frac!r}")
        self.ratio = check_real(owner, "ratio", ratio, minimum=1.0)

    def _rate(self, p: float) -> float:
        # eta = eta_max (1 + p (ratio - 1)) / ratio
        return self.learning_rate * (1 + p * (self.ratio - 1)) / self.ratio

    def __call__(self, fraction: float, epoch: int = 0) -> float:
        """The rate after ``fraction`` of the run (clipped to [0, 1]); ``epoch`` is not used."""
        f = min(max(float(fraction), 0.0), 1.0)
        p = f / self.cut_frac if f < self.cut_frac else (1 - f) / (1 - self.cut_frac)
        return self._rate(p)

    def at_step(self, step: int, total: int) -> float:
        """The paper's rate at step ``step`` (from 0) of ``total``, with its floor on the cut."""
        total = check_positive_int(type(self).__name__, "total", total)
        cut = math.floor(total * self.cut_frac)
        if cut == 0:  # too few steps to rise: the decay alone
            return self._rate(1 - step / total)
        p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / self.cut_frac - 1))
        return self._rate(p)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "cut_frac": self.cut_frac, "ratio": self.ratio}

    def __repr__(self) -> str:
        return f"SlantedTriangular(learning_rate={self.learning_rate:g}, cut_frac={self.cut_frac:g}, ratio={self.ratio:g})"
