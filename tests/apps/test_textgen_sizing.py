"""textgen's model choice for a time budget: the rule by hand, explicit sizes kept, the chosen model saved and reloaded."""
import json
import time

import pytest
import torch

from rnnkit.apps.textgen import TextgenConfig, load_run, train
from rnnkit.apps.textgen import recipe, sizing
from rnnkit.apps.textgen.data import load_corpus
from rnnkit.layers import RecurrentLayer
from rnnkit.apps.textgen.sizing import Candidate, choose, projected_loss
from rnnkit.layers import GRU


def _cand(name, curve, **settings):
    base = dict(cell="gru", layers=1, units=8, batch_size=4, seq_len=8, learning_rate=1e-2)
    return Candidate(name, {**base, **settings}, tuple(curve))


def test_projected_loss_interpolates_in_log_tokens_by_hand():
    c = _cand("c", [(1.0, 2.0), (4.0, 1.6), (8.0, 1.5)])
    assert projected_loss(c, 1e6) == pytest.approx(2.0)
    assert projected_loss(c, 2e6) == pytest.approx(1.8)  # half way from 1M to 4M in log tokens
    assert projected_loss(c, 4e6 * 2 ** 0.5) == pytest.approx(1.55)  # half way from 4M to 8M
    assert projected_loss(c, 0.5e6) == pytest.approx(2.2)  # below the first point: the first segment goes on
    assert projected_loss(c, 64e6) == pytest.approx(1.5)  # beyond the last point: no gain assumed


def test_choose_weighs_speed_against_the_curves_by_hand():
    small = _cand("small", [(1.0, 1.6), (4.0, 1.5)])
    large = _cand("large", [(1.0, 1.7), (4.0, 1.4)])
    cands = [small, large]
    # 100 s at 20k and 10k tokens/s: 2M and 1M tokens; small 1.55, large 1.70
    picked = choose({"small": 20e3, "large": 10e3}, 100, cands)
    assert picked.candidate is small
    assert picked.tokens == pytest.approx({"small": 2e6, "large": 1e6})
    assert picked.loss == pytest.approx({"small": 1.55, "large": 1.70})
    # 400 s: 8M and 4M tokens; small stays at 1.50 (beyond its curve), large reaches 1.40
    picked = choose({"small": 20e3, "large": 10e3}, 400, cands)
    assert picked.candidate is large and picked.loss == pytest.approx({"small": 1.50, "large": 1.40})
    # a larger candidate must gain more than MARGIN (0.01): at 100 s, small 2M tokens -> 1.55; large at
    # 20.5k tokens/s: 2.05M -> 1.7 - 0.3 * log(2.05) / log(4) = 1.5447, 0.0053 better: not enough
    assert sizing.MARGIN == 0.01
    picked = choose({"small": 20e3, "large": 20.5e3}, 100, cands)
    assert picked.candidate is small and picked.loss["large"] == pytest.approx(1.5447, abs=1e-4)
    # at 21k: 2.1M -> 1.7 - 0.3 * log(2.1) / log(4) = 1.5394, 0.0106 better: chosen
    picked = choose({"small": 20e3, "large": 21e3}, 100, cands)
    assert picked.candidate is large and picked.loss["large"] == pytest.approx(1.5394, abs=1e-4)
    # a candidate that could not be timed is left out
    assert choose({"large": 1e3}, 100, cands).candidate is large


def test_the_measured_rule_picks_by_hand_worked_figures():
    """The measured curves (sizing's docstring table) at given speeds, projected by hand.

    Between two points (t0, l0) and (t1, l1): l0 + (l1 - l0) * ln(t / t0) / ln(t1 / t0).
    """
    names = [c.name for c in sizing.CANDIDATES]
    assert names == ["gru-2x192", "gru-2x256", "gru-2x384"]
    assert [(c.settings["units"], c.settings["batch_size"], c.settings["cell"]) for c in sizing.CANDIDATES] == [
        (192, 16, "gru"), (256, 16, "gru"), (384, 16, "gru")]

    # the AVX2 proxy's check: 27.5k, 16.8k, 8.9k tokens/s, 96 s left -> 2.64M, 1.6128M, 0.8544M tokens
    # 2x192: 1.570 - 0.070 * ln(2.64/1.31) / ln(2.76/1.31) = 1.5042; 2x256: 1.508 - 0.021 * ln(1.6128/1.61) /
    # ln(1.80/1.61) = 1.5077; 2x384 below its first point: 1.580 + 0.086 * ln(0.86/0.8544) / ln(1.46/0.86) = 1.5811
    picked = choose({"gru-2x192": 27.5e3, "gru-2x256": 16.8e3, "gru-2x384": 8.9e3}, 96)
    assert picked.candidate.name == "gru-2x192"
    assert picked.loss == pytest.approx({"gru-2x192": 1.5042, "gru-2x256": 1.5077, "gru-2x384": 1.5811}, abs=1e-4)

    # 60 s at 27k, 17k, 7.5k: 1.62M -> 1.5500; 1.02M -> 1.649 - 0.114 * ln(1.02/0.79) / ln(1.17/0.79) = 1.5748;
    # 0.45M -> 1.580 + 0.086 * ln(0.86/0.45) / ln(1.46/0.86) = 1.6852: the small model
    picked = choose({"gru-2x192": 27e3, "gru-2x256": 17e3, "gru-2x384": 7.5e3}, 60)
    assert picked.candidate.name == "gru-2x192"
    assert picked.loss == pytest.approx({"gru-2x192": 1.5500, "gru-2x256": 1.5748, "gru-2x384": 1.6852}, abs=1e-4)

    # a machine twice as fast, 175 s at 55k, 34k, 16k: 9.6M and 5.95M lie beyond the last points (1.473, 1.455);
    # 2.8M -> 1.494 - 0.055 * ln(2.8/1.46) / ln(3.23/1.46) = 1.4489, only 0.0061 below 1.455: 2x256 stays
    picked = choose({"gru-2x192": 55e3, "gru-2x256": 34e3, "gru-2x384": 16e3}, 175)
    assert picked.candidate.name == "gru-2x256"
    assert picked.loss == pytest.approx({"gru-2x192": 1.473, "gru-2x256": 1.455, "gru-2x384": 1.4489}, abs=1e-4)
    # with 2x384 at 18k: 3.15M -> 1.4407, 0.0143 below: the large model
    picked = choose({"gru-2x192": 55e3, "gru-2x256": 34e3, "gru-2x384": 18e3}, 175)
    assert picked.candidate.name == "gru-2x384" and picked.loss["gru-2x384"] == pytest.approx(1.4407, abs=1e-4)


def _tiny_corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 60, encoding="utf-8")
    return path


def test_an_explicit_size_is_kept_and_nothing_is_timed(tmp_path, monkeypatch):
    corpus = load_corpus(str(_tiny_corpus(tmp_path)), "char")

    def never(*args, **kwargs):
        raise AssertionError("an explicit size must not be timed")

    monkeypatch.setattr(sizing, "measure_speeds", never)
    for given in (dict(units=24), dict(cell="gru"), dict(layers=3)):
        cfg = TextgenConfig(data="x", time_budget=180, **given)
        recipe._choose_size(cfg, corpus, print_fn=lambda s: None)
        expected = {**recipe.DEFAULT_SIZE, **given}  # what was given, the rest from the defaults
        assert {k: getattr(cfg, k) for k in expected} == expected and cfg.sizing is None
    # no time budget, or word level: the defaults, untimed
    for cfg in (TextgenConfig(data="x"), TextgenConfig(data="x", level="word", time_budget=180)):
        recipe._choose_size(cfg, corpus, print_fn=lambda s: None)
        assert (cfg.cell, cfg.layers, cfg.units, cfg.batch_size) == ("lstm", 2, 256, 64) and cfg.sizing is None


def test_a_budget_chooses_the_size_from_the_measured_speeds_and_keeps_given_settings(tmp_path, monkeypatch):
    corpus = load_corpus(str(_tiny_corpus(tmp_path)), "char")
    small = _cand("small", [(1.0, 1.6), (4.0, 1.5)], cell="gru", units=16, batch_size=8, learning_rate=3e-3)
    large = _cand("large", [(1.0, 1.7), (4.0, 1.4)], cell="lstm", units=32, batch_size=16, learning_rate=2e-3)
    monkeypatch.setattr(sizing, "CANDIDATES", (small, large))
    seen = []

    def fake(candidates, tokens, vocab_size, budget, *, overrides, **kwargs):
        seen.append(overrides)
        return {"small": 20e3, "large": 10e3}

    monkeypatch.setattr(sizing, "measure_speeds", fake)
    lines = []
    cfg = TextgenConfig(data="x", time_budget=400, learning_rate=5e-3)
    recipe._choose_size(cfg, corpus, print_fn=lines.append)
    # ~400 s left: 8M tokens for small (1.50), 4M for large (1.40) -> large, with the given learning rate
    assert (cfg.cell, cfg.units, cfg.batch_size, cfg.learning_rate) == ("lstm", 32, 16, 5e-3)
    assert seen == [{"learning_rate": 5e-3}]  # the candidates are timed with the user's settings
    assert cfg.sizing["choice"] == "large" and cfg.sizing["tokens_per_second"] == {"small": 20e3, "large": 10e3}
    assert len(lines) == 1 and "20.0k" in lines[0] and "-> large" in lines[0] and lines[0].count("\n") == 0
    cfg = TextgenConfig(data="x", time_budget=100)
    recipe._choose_size(cfg, corpus, print_fn=lines.append)
    assert (cfg.cell, cfg.units, cfg.batch_size, cfg.learning_rate) == ("gru", 16, 8, 3e-3)  # 2M vs 1M tokens: small
    # a budget too short to time anything takes the first candidate
    cfg = TextgenConfig(data="x", time_budget=sizing.MIN_BUDGET / 2)
    monkeypatch.setattr(sizing, "measure_speeds", None)  # calling it would fail
    recipe._choose_size(cfg, corpus, print_fn=lines.append)
    assert (cfg.cell, cfg.units) == ("gru", 16) and cfg.sizing["tokens_per_second"] == {}


@pytest.mark.slow  # a budgeted run with its size trials (about 2 s)
def test_a_budgeted_run_saves_the_chosen_size_and_reloads_into_that_model(tmp_path, monkeypatch, capsys):
    """Really timed (two tiny candidates), trained for a second, reloaded; the rebuilt model is the chosen one."""
    # the GRU's curve lies below the LSTM's at every token count, so the choice does not depend on the speeds
    gru = _cand("tiny-gru", [(0.001, 1.0), (1.0, 0.5)], cell="gru", layers=2, units=12, batch_size=4, seq_len=8)
    lstm = _cand("tiny-lstm", [(0.001, 2.0), (1.0, 1.5)], cell="lstm", layers=1, units=20, batch_size=8, seq_len=8)
    monkeypatch.setattr(sizing, "CANDIDATES", (lstm, gru))
    monkeypatch.setattr(sizing, "MIN_BUDGET", 0.0)
    run = tmp_path / "run"
    metrics = train(TextgenConfig(data=str(_tiny_corpus(tmp_path)), time_budget=1.5, embed_dim=8, sample_length=0,
                                  out=str(run)), verbose=0)
    saved = json.loads((run / "config.json").read_text())["config"]
    assert {k: saved[k] for k in gru.settings} == {**gru.settings}
    record = saved["sizing"]
    assert record["choice"] == "tiny-gru" and set(record["tokens_per_second"]) == {"tiny-gru", "tiny-lstm"}
    assert all(v > 0 for v in record["tokens_per_second"].values()) and 0 < record["seconds"] < 1.5
    out = capsys.readouterr().out
    assert "tokens/s" in out and "-> tiny-gru" in out
    # the timing counted against the budget: the clock started from it
    assert metrics["train_seconds"] >= 1.5 and metrics["train_seconds"] > record["seconds"]
    model, _, cfg = load_run(run)
    layers = [m for m in model.modules() if isinstance(m, RecurrentLayer)]
    assert [type(layer) for layer in layers] == [GRU, GRU] and [layer.units for layer in layers] == [12, 12]
    assert sum(p.numel() for p in model.parameters()) == metrics["parameters"]
    assert cfg.sizing == record


def test_the_time_spent_choosing_counts_against_the_budget():
    """The run's clock starts at the seconds the choice took; the cosine schedule spans what is left."""
    cfg = TextgenConfig(data="x", time_budget=10.0, learning_rate=1.0, warmup=0.0, sizing={"seconds": 4.0})
    clock = recipe.RECIPE.clock(cfg, epochs=10_000)
    net = torch.nn.Linear(1, 1)
    net.stop_training, net.optimizer = False, torch.optim.SGD(net.parameters(), lr=1.0)
    clock.set_model(net)
    clock.on_train_begin()
    assert clock.elapsed == 4.0
    assert clock.rate(0) == pytest.approx(1.0)  # the schedule starts at the top, not 40% into the decay
    clock.elapsed = 7.0  # half of the 6 s left: 0.05 + 0.95 * 0.5 * (1 + cos(pi / 2)) = 0.525
    assert clock.rate(0) == pytest.approx(0.525)
    clock.elapsed = 9.999
    clock.on_train_batch_begin(0)
    time.sleep(0.002)
    clock.on_train_batch_end(0)  # spends the last of the 10 s: 6 s of training after the 4 s of choosing
    assert net.stop_training
    # without a choice (a size was given) the clock starts at zero
    plain = recipe.RECIPE.clock(TextgenConfig(data="x", time_budget=10.0), epochs=10_000)
    plain.set_model(net)
    plain.on_train_begin()
    assert plain.elapsed == 0.0
