"""The slanted triangular learning rate against Howard & Ruder's equation 3, computed by hand."""
from __future__ import annotations

import pytest

from rnnkit.errors import ConfigError
from rnnkit.training.schedules import SlantedTriangular


@pytest.mark.parametrize("step,total,expected", [
    # T = 1000, cut_frac 0.1: cut = 100; eta = 0.01 (1 + 31 p) / 32
    (0, 1000, 0.01 / 32),                      # p = 0: the lowest rate
    (50, 1000, 0.01 * 16.5 / 32),              # p = 50 / 100 = 0.5
    (100, 1000, 0.01),                         # p = 1: the peak
    (550, 1000, 0.01 * 16.5 / 32),             # p = 1 - 450 / (100 * 9) = 0.5
    (1000, 1000, 0.01 / 32),                   # p = 1 - 900 / 900 = 0
    # T = 25: cut = floor(2.5) = 2, the floor matters
    (1, 25, 0.01 * 16.5 / 32),                 # p = 1 / 2
    (13, 25, 0.01 * (1 + 31 * 7 / 18) / 32),   # p = 1 - 11 / (2 * 9) = 7 / 18
])
def test_steps_follow_the_papers_formula(step, total, expected):
    assert SlantedTriangular(0.01).at_step(step, total) == pytest.approx(expected, rel=1e-12)


def test_the_fraction_form_is_the_same_line_and_other_settings_scale_it():
    stlr = SlantedTriangular(0.01)
    for step in (0, 37, 100, 101, 640, 999):
        assert stlr(step / 1000) == pytest.approx(stlr.at_step(step, 1000), rel=1e-12)
    # cut_frac 0.25, ratio 4: at f = 0.125, p = 0.5 -> 2e-3 (1 + 1.5) / 4; at f = 0.625, p = 0.375 / 0.75 = 0.5
    other = SlantedTriangular(2e-3, cut_frac=0.25, ratio=4)
    assert other(0.125) == pytest.approx(2e-3 * 2.5 / 4) and other(0.625) == pytest.approx(2e-3 * 2.5 / 4)
    assert other(-1) == other(0) and other(2) == other(1)  # outside the run: its ends


@pytest.mark.parametrize("kwargs", [dict(learning_rate=0), dict(learning_rate=1e-3, cut_frac=1.0),
                                    dict(learning_rate=1e-3, cut_frac=0), dict(learning_rate=1e-3, ratio=0.5)])
def test_bad_settings_are_one_line_errors(kwargs):
    with pytest.raises(ConfigError, match="SlantedTriangular: `"):
        SlantedTriangular(**kwargs)
