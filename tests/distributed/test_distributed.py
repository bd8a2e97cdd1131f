"""Data-parallel training on torch.distributed (gloo, CPU): 2 processes on this machine follow 1 process.

Each test launches ``worker.py`` (a scenario: model, data, fit) under ``torchrun`` with 2 processes and alone, and
compares the final weights; the failure tests start the ranks themselves with torchrun's environment, so that a
rank can be killed and the survivor watched.  Marked slow (each launch starts Python and torch twice).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not torch.distributed.is_available(),
                                                   reason="this torch build has no torch.distributed")]

WORKER = Path(__file__).with_name("worker.py")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    return {**env, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", **extra}


def _torchrun(scenario: str, out: Path, nproc: int = 2, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           str(WORKER), scenario, str(out)], env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def _alone(scenario: str, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(WORKER), scenario, str(out)], env=_env(**env), capture_output=True,
                          text=True, timeout=180)


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = torch.load(a / "weights.pt"), torch.load(b / "weights.pt")
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.mark.parametrize("scenario", ["lstm", "tbptt", "masked", "classify", "sampler"])
def test_two_ranks_end_with_the_weights_of_one_process(tmp_path, scenario):
    """lstm: arrays, shuffled, a last batch of 6 rows (and only rank 0 writes); tbptt: a stateful LM on an LMStream, 5-step chunks; masked: a
    tagger with a loss per valid step on bucketed batches of several sizes; classify: a masked classifier, bucketed;
    sampler: a DataLoader over a DistributedSampler, set_epoch each epoch."""
    two = _torchrun(scenario, tmp_path / "two")
    assert two.returncode == 0, two.stderr[-2000:]
    one = _alone(scenario, tmp_path / "one")
    assert one.returncode == 0, one.stderr[-2000:]
    assert _max_difference(tmp_path / "one", tmp_path / "two") <= 1e-5
    if Path("/proc/self/task").is_dir():  # the process group rnnkit joined is gone before the interpreter's teardown
        for rank in (0, 1):
            threads = (tmp_path / "two" / f"threads-{rank}").read_text().split()
            assert not [name for name in threads if "gloo" in name], (rank, threads)
    import json
    logs = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("one", "two")]
    assert logs[0].keys() == logs[1].keys()
    for key in logs[0]:  # loss, metrics, val_* summed over the ranks: the 1-process figures
        assert logs[1][key] == pytest.approx(logs[0][key], rel=1e-5, abs=1e-7), key
    if scenario == "lstm":  # its fit has a CSVLogger and a ModelCheckpoint whose files are named by rank
        _only_rank_0_wrote_and_logged_the_whole_batch(tmp_path)


def _only_rank_0_wrote_and_logged_the_whole_batch(tmp_path: Path) -> None:
    def written_by_fit(run: str) -> list[str]:  # not the worker's own pid-RANK and threads-RANK
        return sorted(p.name for p in (tmp_path / run).iterdir() if not p.name.startswith(("pid-", "threads-")))
    written = written_by_fit("two")
    assert written == written_by_fit("one")
    assert written == ["ckpt-0.safetensors", "history.json", "log-0.csv", "weights.pt"]  # rank 1 wrote no log-1.csv, no ckpt-1
    # the epoch's loss and metric are over both ranks' rows: the 1-process figures
    rows = [float(v) for line in (tmp_path / "two" / "log-0.csv").read_text().splitlines()[1:]
            for v in line.split(",")]
    alone = [float(v) for line in (tmp_path / "one" / "log-0.csv").read_text().splitlines()[1:]
             for v in line.split(",")]
    assert rows == pytest.approx(alone, rel=1e-5)


def test_a_batch_size_that_does_not_divide_among_the_ranks_is_a_clear_error(tmp_path):
    run = _torchrun("lstm", tmp_path, BATCH="33")
    assert run.returncode != 0
    assert "batch_size 33 is the global batch and must divide among the 2 processes" in run.stderr


def test_ranks_with_different_data_are_an_error_not_a_hang(tmp_path):
    started = time.monotonic()
    run = _torchrun("mismatch", tmp_path, timeout=120)
    assert run.returncode != 0 and time.monotonic() - started < 120
    assert "differ in examples (rank 0: 64, rank 1: 48)" in run.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ranks(out: Path, size: int = 2, **env: str) -> list[subprocess.Popen]:
    """The ranks as torchrun starts them (its environment variables), so that the test can kill one."""
    port = str(_free_port())
    return [subprocess.Popen([sys.executable, str(WORKER), "long", str(out)],
                             env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1",
                                      MASTER_PORT=port, **env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(size)]


def test_a_killed_rank_ends_the_job_with_one_line_and_the_checkpoint_resumes_on_one_process(tmp_path):
    ranks = _start_ranks(tmp_path, EPOCHS="200")
    try:
        checkpoint = tmp_path / "checkpoint.safetensors"
        deadline = time.monotonic() + 120
        while not checkpoint.exists():  # at least one epoch done, then kill mid-epoch
            assert time.monotonic() < deadline and ranks[0].poll() is None, ranks[0].stderr.read()[-2000:]
            time.sleep(0.1)
        time.sleep(0.3)
        ranks[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = ranks[0].communicate(timeout=60)  # the survivor ends within 60 s
        assert time.monotonic() - killed < 60 and ranks[0].returncode == 2
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "rank 0 of 2: another training process died or stopped answering" in lines[0]
        assert "Traceback" not in err
    finally:
        for rank in ranks:
            if rank.poll() is None:
                rank.kill()
    from rnnkit.saving.checkpoint import load_file
    done = load_file(checkpoint)[1]["training"]["epoch"]  # the last checkpoint is whole (its digest checked)
    assert done >= 1
    resumed = _alone("long", tmp_path, RESUME="1", EPOCHS=str(done + 2))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_file(checkpoint)[1]["training"]["epoch"] == done + 2


@pytest.mark.parametrize("world", [1, 4])
def test_a_two_rank_run_resumes_on_another_number_of_processes_as_if_never_stopped(tmp_path, world):
    first = _torchrun("long", tmp_path / "resumed", EPOCHS="2")
    assert first.returncode == 0, first.stderr[-2000:]
    if world == 1:
        again = _alone("long", tmp_path / "resumed", RESUME="1", EPOCHS="4")
    else:
        again = _torchrun("long", tmp_path / "resumed", nproc=world, RESUME="1", EPOCHS="4")
    assert again.returncode == 0, again.stderr[-2000:]
    straight = _alone("long", tmp_path / "straight", EPOCHS="4")
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert _max_difference(tmp_path / "resumed", tmp_path / "straight") <= 1e-5


def _reviews(path: Path, n: int = 240) -> Path:
    import random
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(n):
            word = rng.choice(["good", "great", "fine"]) if i % 2 else rng.choice(["bad", "awful", "poor"])
            f.write(" ".join(rng.choice(["the", "film", "plot", "was", "a"]) for _ in range(rng.randint(3, 12)))
                    + f" {word},{'pos' if i % 2 else 'neg'}\n")
    return path


def _rnnkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_an_app_trained_with_nproc_2_writes_the_run_folder_of_one_process(tmp_path):
    data = _reviews(tmp_path / "reviews.csv")
    common = ["classify", "train", "--data", str(data), "--epochs", "2", "--units", "8", "--embed-dim", "8",
              "--batch-size", "16", "--dropout", "0", "--embed-dropout", "0", "--locked-dropout", "0", "--weight-dropout", "0"]
    two = _rnnkit(*common, "--out", str(tmp_path / "two"), "--nproc", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    one = _rnnkit(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert two.stdout.count("run folder") == one.stdout.count("run folder")  # rank 1 printed nothing of its own
    import json
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two")]
    assert metrics[0].keys() == metrics[1].keys()
    assert abs(metrics[0]["test_accuracy"] - metrics[1]["test_accuracy"]) <= 0.02  # the same model, up to rounding
    command = json.loads((tmp_path / "two" / "run.json").read_text())["command"]
    assert command[0] == "rnnkit" and command[-2:] == ["--nproc", "2"]


def test_nproc_with_a_batch_that_does_not_divide_is_refused_before_launching(tmp_path):
    data = _reviews(tmp_path / "reviews.csv", n=40)
    run = _rnnkit("classify", "train", "--data", str(data), "--batch-size", "15", "--nproc", "2",
                  "--out", str(tmp_path / "run"), timeout=60)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "rnnkit: error: --batch-size 15 is the global batch and must divide among the 2 processes of --nproc 2; "
        "use a multiple of 2"]
    assert not (tmp_path / "run").exists()


def test_each_rank_draws_its_own_dropout_masks(tmp_path):
    """The ranks share the generator that shuffles; the masks of a step must not be the same on every rank."""
    import json
    run = _torchrun("dropout_masks", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    masks = [json.loads((tmp_path / f"masks-{rank}.json").read_text()) for rank in (0, 1)]
    steps = [m[-2:] for m in masks]  # a step an epoch (before them, the call that built the model)
    assert all(a != b for a, b in zip(*steps))


def test_a_failing_nproc_run_says_why_per_rank_and_once_overall_without_the_agent_s_log(tmp_path):
    run = _rnnkit("classify", "train", "--data", str(tmp_path / "missing.csv"), "--nproc", "2",
                  "--out", str(tmp_path / "run"), timeout=120)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and 2 <= len(lines) <= 3  # the other rank may be stopped before it says the same
    assert all(re.match(r"rnnkit \(rank [01]\): error: .*missing.csv: no such file or folder", line) for line in lines[:-1]), run.stderr
    assert re.fullmatch(r"rnnkit: error: training process [01] of 2 failed \(exit code 2\); the "
                        r"processes stopped, the run folder keeps its last checkpoint", lines[-1])


def test_an_ensemble_trained_with_nproc_2_writes_the_folders_of_one_process(tmp_path):
    data = _reviews(tmp_path / "reviews.csv")
    common = ["classify", "train", "--data", str(data), "--epochs", "2", "--units", "8", "--embed-dim", "8",
              "--batch-size", "16", "--dropout", "0", "--embed-dropout", "0", "--locked-dropout", "0",
              "--weight-dropout", "0", "--ensemble", "2"]
    two = _rnnkit(*common, "--out", str(tmp_path / "two"), "--nproc", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    one = _rnnkit(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    for folder in ("", "members/1", "members/2"):
        assert (sorted(p.name for p in (tmp_path / "two" / folder).iterdir())
                == sorted(p.name for p in (tmp_path / "one" / folder).iterdir())), folder
    assert two.stdout.count("run folder") == one.stdout.count("run folder")  # rank 1 printed nothing of its own
    assert two.stdout.count("classify: member ") == 2
    import json
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two")]
    assert [m["seed"] for m in metrics[1]["members"]] == [0, 1]
    assert abs(metrics[0]["test_accuracy"] - metrics[1]["test_accuracy"]) <= 0.02  # the same models, up to rounding
