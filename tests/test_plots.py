"""plot_history / plot_series write real PNG files atomically, one subplot per metric family."""
import os
import struct

import matplotlib.figure
import pytest

from rnnkit.errors import ConfigError
from rnnkit.plots import plot_histories, plot_history, plot_series
from rnnkit.training.callbacks import CSVLogger

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, read independently of matplotlib."""
    data = open(path, "rb").read(24)
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def saved_figures(monkeypatch):
    """Every figure handed to savefig, so a test can count its subplots."""
    figures = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append((len(self.axes), [ax.get_legend_handles_labels()[1] for ax in self.axes]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    return figures


def test_dict_history_writes_a_png_with_one_subplot_per_family(tmp_path, saved_figures):
    history = {
        "loss": [1.0, 0.6, 0.4],
        "accuracy": [0.3, 0.6, 0.8],
        "val_loss": [1.1, 0.8, 0.7],
        "val_accuracy": [0.2, 0.5, 0.7],
        "lr": [0.01, 0.01, 0.005],
    }
    out = plot_history(history, tmp_path / "curves.png", title="run 1")
    assert out == tmp_path / "curves.png"
    width, height = png_size(out)
    assert 300 < width < 2000 and 300 < height < 3000
    assert 5_000 < out.stat().st_size < 2_000_000
    # loss first, each family with its validation twin; lr is left out
    assert saved_figures == [(2, [["loss", "val_loss"], ["accuracy", "val_accuracy"]])]


def test_several_runs_share_the_subplots_one_colour_per_run(tmp_path, monkeypatch):
    first = tmp_path / "first.csv"
    first.write_text("epoch,loss,accuracy,val_accuracy\n0,0.9,0.5,0.4\n1,0.5,0.7,0.6\n")
    second = {"loss": [0.8, 0.6, 0.4], "accuracy": [0.6, 0.7, 0.8]}
    drawn = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        drawn.extend([(line.get_label(), line.get_color(), line.get_linestyle()) for line in ax.get_lines()]
                     for ax in self.axes)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_histories({"member 1": first, "member 2": second}, tmp_path / "members.png", title="ensemble")
    assert drawn == [[("member 1 loss", "C0", "-"), ("member 2 loss", "C1", "-")],
                     [("member 1 accuracy", "C0", "-"), ("member 1 val_accuracy", "C0", "--"),
                      ("member 2 accuracy", "C1", "-")]]
    with pytest.raises(ConfigError, match="no histories given"):
        plot_histories({}, tmp_path / "none.png")


def test_more_families_make_a_taller_image(tmp_path):
    one = plot_history({"loss": [1.0, 0.5]}, tmp_path / "one.png")
    three = plot_history({"loss": [1.0, 0.5], "mae": [0.4, 0.3], "grad_norm": [2.0, 1.0]}, tmp_path / "three.png")
    assert png_size(three)[1] > 2 * png_size(one)[1]


def test_history_from_the_csv_logger_file(tmp_path, saved_figures):
    path = tmp_path / "run" / "metrics.csv"
    logger = CSVLogger(path)
    logger.on_train_begin()
    for epoch in range(4):
        logger.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1), "accuracy": 0.2 * epoch,
                                    "val_accuracy": 0.15 * epoch, "lr": 0.001, "grad_norm": 3.0 - epoch})
    logger.on_train_end()
    assert path.read_text().splitlines()[0].split(",")[0] == "epoch"
    out = plot_history(str(path), tmp_path / "curves.png")
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert saved_figures == [(3, [["loss", "val_loss"], ["accuracy", "val_accuracy"], ["grad_norm"]])]


def test_csv_epochs_are_drawn_from_one_and_gaps_are_allowed(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,note,val_loss\n0,0.9,warm,NA\n1,0.5,ok,0.7\n")
    drawn = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        drawn.extend((line.get_label(), list(line.get_xdata())) for line in self.axes[0].get_lines())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_history(path, tmp_path / "curves.png")  # the text column "note" is skipped
    assert drawn == [("loss", [1.0, 2.0]), ("val_loss", [1.0, 2.0])]


def test_keys_choose_the_metrics_and_may_name_lr(tmp_path, saved_figures):
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9], "accuracy": [0.1, 0.4], "lr": [0.1, 0.05]}
    plot_history(history, tmp_path / "a.png", keys=["lr", "loss"])
    assert saved_figures == [(2, [["loss", "val_loss"], ["lr"]])]


@pytest.mark.parametrize("history", [{}, {"loss": []}, {"loss": [], "val_loss": []}])
def test_an_empty_history_is_a_config_error(tmp_path, history):
    with pytest.raises(ConfigError, match="empty"):
        plot_history(history, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_csv_and_bad_keys_are_config_errors(tmp_path):
    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        plot_history(tmp_path / "metrics.csv", tmp_path / "x.png")
    with pytest.raises(ConfigError, match="no metrics file"):
        plot_history(tmp_path / "missing.csv", tmp_path / "x.png")
    with pytest.raises(ConfigError, match="'acc' not in the history"):
        plot_history({"loss": [1.0]}, tmp_path / "x.png", keys=["acc"])
    with pytest.raises(ConfigError, match="nothing to plot"):
        plot_history({"lr": [0.1, 0.1]}, tmp_path / "x.png")


def test_a_failing_savefig_leaves_no_temporary_file_and_keeps_the_old_png(tmp_path, monkeypatch):
    target = tmp_path / "curves.png"
    plot_history({"loss": [1.0, 0.5]}, target)
    before = target.read_bytes()

    def broken(self, *args, **kwargs):
        args[0].write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_history({"loss": [0.1, 0.05]}, target)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_series(tmp_path / "series.png", {"a": [1, 2]})
    assert sorted(os.listdir(tmp_path)) == ["curves.png"]
    assert target.read_bytes() == before


def test_plot_series_draws_every_line_on_one_axes(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    seen = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        seen.append([(line.get_label(), len(line.get_xdata())) for ax in self.axes for line in ax.get_lines()])
        seen.append((self.axes[0].get_xlabel(), self.axes[0].get_ylabel(), self.axes[0].get_title()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    actual = np.sin(np.arange(50) / 5)
    out = plot_series(tmp_path / "sub" / "pred.png", {"actual": actual, "predicted": list(actual + 0.1)},
                      x=range(100, 150), title="next value", xlabel="day", ylabel="value")
    assert png_size(out)[0] > 300 and out.stat().st_size > 5_000
    assert seen == [[("actual", 50), ("predicted", 50)], ("day", "value", "next value")]


def test_plot_series_rejects_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="non-empty dict"):
        plot_series(tmp_path / "a.png", {})
    with pytest.raises(ConfigError, match="'a' must be a non-empty 1-D sequence"):
        plot_series(tmp_path / "a.png", {"a": []})
    with pytest.raises(ConfigError, match="`x` has 3 values"):
        plot_series(tmp_path / "a.png", {"a": [1, 2]}, x=[1, 2, 3])
    assert list(tmp_path.iterdir()) == []


def test_plot_series_takes_an_x_per_line(tmp_path, monkeypatch):
    seen = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        seen.append([(line.get_label(), list(line.get_xdata())) for ax in self.axes for line in ax.get_lines()])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_series(tmp_path / "two.png", {"lstm": [0.9, 0.95, 0.97], "cnn": [0.96, 0.98]},
                x={"lstm": [10, 20, 30], "cnn": [5, 10]})
    assert seen == [[("lstm", [10.0, 20.0, 30.0]), ("cnn", [5.0, 10.0])]]
    with pytest.raises(ConfigError, match=r"`x` has \{'cnn': 1\} values but the series have \{'cnn': 2\}"):
        plot_series(tmp_path / "a.png", {"lstm": [1], "cnn": [1, 2]}, x={"lstm": [1], "cnn": [1]})
    with pytest.raises(ConfigError, match=r"`x` has values for \['lstm'\] but the series are \['cnn', 'lstm'\]"):
        plot_series(tmp_path / "a.png", {"lstm": [1], "cnn": [1, 2]}, x={"lstm": [1]})
    plot_series(tmp_path / "it.png", {"a": [1, 2], "b": [2, 3]}, x=iter([0, 1]))  # an iterator serves every line


def test_plot_images_draws_a_grid_with_captions(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    from rnnkit.plots import plot_images

    seen = []
    original = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        seen.append([(ax.get_title(), len(ax.get_images())) for ax in self.axes])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    out = plot_images(tmp_path / "grid.png", [np.eye(5)] * 3, ["7 as 1", "4 as 9", "3 as 5"], columns=2, title="mistakes")
    assert png_size(out)[0] > 100
    assert seen == [[("7 as 1", 1), ("4 as 9", 1), ("3 as 5", 1), ("", 0)]]  # 2 x 2 grid, the last cell empty
    with pytest.raises(ConfigError, match="image 0 has shape \\(5,\\)"):
        plot_images(tmp_path / "b.png", [np.ones(5)])
    with pytest.raises(ConfigError, match="1 captions for 2 images"):
        plot_images(tmp_path / "b.png", [np.eye(2), np.eye(2)], ["x"])
    with pytest.raises(ConfigError, match="`images` is empty"):
        plot_images(tmp_path / "b.png", [])
    assert not (tmp_path / "b.png").exists()
