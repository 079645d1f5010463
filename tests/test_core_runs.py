"""Runs: budgets, atomic checkpoints that survive SIGKILL, resume, Ctrl-C, no pickles."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import sandbox
from sandbox.run import load_checkpoint, read_pointer
from sandbox.tracking import read_metrics

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]"]


def assert_no_pickle(run_dir: Path) -> None:
    """Open every file of the run directory: none may be a pickle, or a torch zip holding one."""
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert files
    for p in files:
        head = p.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), f"{p} is a pickle"
        if zipfile.is_zipfile(p) and p.suffix not in (".mp4", ".gif", ".png"):
            with zipfile.ZipFile(p) as z:
                assert not [n for n in z.namelist() if n.endswith(".pkl")], f"{p} holds a pickle"


def test_train_writes_the_run_directory(tmp_path):
    run = sandbox.train(None, [*TINY, "steps=40", f"out={tmp_path / 'r'}"], progress=False)
    d = run.dir
    assert (d / "config.yaml").is_file() and (d / "metrics.jsonl").is_file() and (d / "run.json").is_file()
    rows = read_metrics(d)
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert all("train/loss" in r and "time" in r for r in rows)
    assert read_pointer(d, "latest")["step"] == 40
    assert json.loads((d / "run.json").read_text())["status"] == "finished"
    assert_no_pickle(d)
    # the saved config alone rebuilds the run: a loaded model samples like the trained one
    model = sandbox.load(d)
    assert torch.equal(model.sample(5, seed=3), run_model_sample(d))


def run_model_sample(d: Path) -> torch.Tensor:
    return sandbox.load(d).sample(5, seed=3)


def test_checkpoints_keep_the_latest_and_the_best(tmp_path):
    run = sandbox.train(None, [*TINY, "steps=60", "model.checkpoint_every=10", f"out={tmp_path / 'r'}"], progress=False)
    latest, best = read_pointer(run.dir, "latest"), read_pointer(run.dir, "best")
    assert latest["step"] == 60 and best is not None
    kept = sorted(p.name for p in (run.dir / "checkpoints").iterdir())
    assert {f"{latest['file']}.safetensors", f"{best['file']}.safetensors"} <= set(kept)
    assert len([k for k in kept if k.endswith(".safetensors")]) <= 2  # older ones are pruned
    state = load_checkpoint(run.dir, "best")[1]
    assert state["score"] is not None and state["score"] == state["best_score"] == run.best_score
    assert load_checkpoint(run.dir, "latest")[1]["best_score"] == run.best_score


def test_max_minutes_stops_cleanly_with_a_checkpoint(tmp_path, cli):
    # max_minutes counts from the call to train, imports included (about 2 s here, far more on a loaded machine)
    out = cli("train", *TINY, "steps=100000000", "max_minutes=0.2", "model.sleep=0.001", f"out={tmp_path / 'r'}", "--no-progress")
    assert out.returncode == 0, out.stderr
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "time-up"
    latest = read_pointer(tmp_path / "r", "latest")
    assert latest["step"] == read_metrics(tmp_path / "r")[-1]["step"] > 0


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sandbox", "train", *args, "--no-progress"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    t = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - t < timeout
        time.sleep(0.02)


def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path):
    rng = random.Random(7)
    d = tmp_path / "r"
    args = [*TINY, "steps=100000", "model.sleep=0.002", "model.checkpoint_every=3", f"out={d}"]
    proc = start(args, tmp_path)
    wait_for(d / "checkpoints" / "latest.json", proc)
    kills = 0
    resumed_from: list[tuple[int, int]] = []  # (checkpoint step at restart, metrics rows before restart)
    while kills < 12:
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        loaded = load_checkpoint(d)  # never torn, never missing
        assert loaded is not None
        tensors, state = loaded
        assert "modules/net/net.0.weight" in tensors and state["step"] >= 0
        sandbox.load(d)  # the whole plugin rebuilds from it
        resumed_from.append((state["step"], len(read_metrics(d))))
        proc = start([f"out={d}"], tmp_path)  # resume: the run's own config
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert_no_pickle(d)
    rows = read_metrics(d)
    # every restart went on from the checkpoint it found, not from zero, and metrics.jsonl holds one
    # history: steps strictly increase, the rows of progress a resume threw away are in the side file
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)) and steps[0] == 1
    assert any(ckpt_step > 0 for ckpt_step, _ in resumed_from)
    assert all(ckpt_step in steps or ckpt_step == 0 for ckpt_step, _ in resumed_from[:-1])
    assert read_pointer(d, "latest")["step"] > 0
    # and a last resume runs to the end of a (smaller) budget
    out = subprocess.run([sys.executable, "-m", "sandbox", "train", f"out={d}", f"steps={read_pointer(d, 'latest')['step'] + 20}",
                          "--no-progress"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads((d / "run.json").read_text())["status"] == "finished"


def test_ctrl_c_checkpoints_then_exits(tmp_path):
    d = tmp_path / "r"
    proc = start([*TINY, "steps=100000000", "model.sleep=0.002", f"out={d}"], tmp_path)
    wait_for(d / "checkpoints" / "latest.json", proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    latest = read_pointer(d, "latest")
    assert latest["step"] > 0 and latest["step"] == read_metrics(d)[-1]["step"]
    assert json.loads((d / "run.json").read_text())["status"] == "interrupted"


def test_a_run_being_trained_is_not_resumed_by_a_second_process(tmp_path, cli):
    """Two 'sandbox train out=SAME' at once: the second is one sentence naming the first's process,
    and touches nothing (not even the first's temporary files); once the first has stopped, the same
    command resumes. A run.json that names a process id now used by another program does not block."""
    d = tmp_path / "r"
    proc = start([*TINY, "steps=100000000", "model.sleep=0.002", f"out={d}"], tmp_path)
    try:
        wait_for(d / "checkpoints" / "latest.json", proc)
        out = cli("train", f"out={d}", "--no-progress")
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.strip().splitlines() == [f"error: out={d} is being trained right now by process {proc.pid}; wait for it "
                                                   f"to end, or stop it (Ctrl-C there, or 'kill {proc.pid}': it checkpoints) and run "
                                                   f"this again to resume."]
        assert proc.poll() is None and json.loads((d / "run.json").read_text())["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    stopped = read_pointer(d, "latest")["step"]
    out = cli("train", f"out={d}", f"steps={stopped + 5}", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert read_pointer(d, "latest")["step"] == stopped + 5
    # a run killed on this machine, its process id taken since by another program (here: this test's own)
    info = json.loads((d / "run.json").read_text())
    info.update(status="running", pid=__import__("os").getpid(), pid_start="1")
    (d / "run.json").write_text(json.dumps(info))
    out = cli("train", f"out={d}", f"steps={stopped + 8}", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert read_pointer(d, "latest")["step"] == stopped + 8


def test_resume_refuses_a_changed_config_and_keeps_the_run(tmp_path, cli):
    d = tmp_path / "r"
    assert cli("train", *TINY, "steps=10", f"out={d}", "--no-progress").returncode == 0
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    out = cli("train", *TINY, "steps=10", "model.lr=0.5", f"out={d}")
    assert out.returncode == 2 and "model.lr" in out.stderr and "Traceback" not in out.stderr
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    out = cli("train", f"out={d}", "steps=10", "agent.actors=2")  # a field of a plugin this run does not have
    assert out.returncode == 2 and "agent.actors" in out.stderr and "no agent" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    out = cli("train", f"out={d}", "steps=25", "max_minutes=5", "--no-progress")  # budget keys may change
    assert out.returncode == 0, out.stderr
    assert read_metrics(d)[-1]["step"] == 25
    # run.json keeps each sitting (the refused ones never began): its start, its steps and the keys a resume may change
    first, second = json.loads((d / "run.json").read_text())["sittings"]
    assert (first["from_step"], first["to_step"], first["steps"], first["max_minutes"], first["status"]) == (0, 10, 10, None, "finished")
    assert (second["from_step"], second["to_step"], second["steps"], second["max_minutes"], second["status"]) == (10, 25, 25, 5, "finished")
    assert "started" in second and "model.lr" not in second


def test_seeding_makes_runs_repeatable(tmp_path):
    a = sandbox.train(None, [*TINY, "steps=20", "seed=3", f"out={tmp_path / 'a'}"], progress=False)
    b = sandbox.train(None, [*TINY, "steps=20", "seed=3", f"out={tmp_path / 'b'}"], progress=False)
    c = sandbox.train(None, [*TINY, "steps=20", "seed=4", f"out={tmp_path / 'c'}"], progress=False)
    la, lb, lc = ([r["train/loss"] for r in read_metrics(x.dir)] for x in (a, b, c))
    assert la == lb and la != lc


def test_device_auto_is_cpu_here_and_missing_cuda_is_refused():
    from sandbox.errors import ConfigError
    from sandbox.device import resolve_device

    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_a_resume_moves_the_rows_logged_after_its_checkpoint_aside(tmp_path):
    d = tmp_path / "r"
    sandbox.train(None, [*TINY, "steps=12", "model.checkpoint_every=4", f"out={d}"], progress=False)
    assert read_pointer(d, "latest")["step"] == 12
    # what a process killed after step 12's checkpoint leaves: rows of steps 13 and 14, and a torn line
    with open(d / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 13, "time": 9.0, "loss": 1.0}\n{"step": 14, "time": 9.1, "loss": 1.0}\n{"step": 1')
    sandbox.train(None, [f"out={d}", "steps=20"], progress=False)
    steps = [r["step"] for r in read_metrics(d)]
    assert steps == list(range(1, 21))  # one history, no step twice, none going backwards
    aside = (d / "metrics.discarded.jsonl").read_text().splitlines()
    assert [line[:12] for line in aside] == ['{"step": 13,', '{"step": 14,', '{"step": 1']



def test_a_checkpoint_that_does_not_fit_the_config_is_one_sentence_on_resume(tmp_path):
    d = tmp_path / "r"
    sandbox.train(None, [*TINY, "steps=4", f"out={d}"], progress=False)
    config = d / "config.yaml"
    config.write_text(config.read_text().replace("- 8", "- 16"))  # the network the checkpoint holds is 8 wide
    metrics = (d / "metrics.jsonl").read_bytes()
    with pytest.raises(sandbox.RunDirError, match=r"does not fit its config \(\S+ is \[8.*\] in the checkpoint but \[16.*\] in the network"):
        sandbox.train(None, [f"out={d}", "steps=8"], progress=False)
    assert (d / "metrics.jsonl").read_bytes() == metrics
