"""Tracking: metrics.jsonl always; a real W&B offline run under the run directory; a failing W&B
never stops training."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import sandbox
from sandbox.tracking import Tracker, read_metrics

TINY = ["model=tiny/regress", "backbone.hidden=[8]"]


def wandb_records(path: Path) -> list:
    """The protobuf records of a .wandb file (a LevelDB-style log of 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    out, pos, buf, block = [], 7, b"", 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            full = chunk
        elif kind == 2:
            buf = chunk
            continue
        elif kind == 3:
            buf += chunk
            continue
        else:
            full = buf + chunk
        record = pb.Record()
        record.ParseFromString(full)
        out.append(record)
    return out


def test_wandb_offline_run_holds_config_scalars_image_and_video(tmp_path):
    run = sandbox.train(None, [*TINY, "steps=25", "model.media=true", "wandb.mode=offline", "wandb.project=tests",
                               "wandb.group=g1", "wandb.tags=[a,b]", f"out={tmp_path / 'r'}"], progress=False)
    files = list((run.dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, "the W&B run lives under the run directory"
    records = wandb_records(files[0])
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert runs and runs[0].project == "tests" and runs[0].run_group == "g1" and list(runs[0].tags) == ["a", "b"]
    config_keys = {item.key for item in runs[0].config.update}
    assert {"model", "backbone", "steps", "seed", "wandb"} <= config_keys
    history = [{(i.key or "/".join(i.nested_key)): i.value_json for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    assert len(history) >= 25 and all("train/loss" in h for h in history[:25])
    assert all(json.loads(h["step"]) == i + 1 for i, h in enumerate(history[:25])), "the run's step is a metric"
    images = [h for h in history if "charts/samples/_type" in h]
    videos = [h for h in history if "charts/video/_type" in h]
    assert len(images) == 1 and json.loads(images[0]["charts/samples/_type"]) == "image-file"
    assert len(videos) == 1 and json.loads(videos[0]["charts/video/_type"]) == "video-file"
    # W&B by its conventions: every name in a section, and the run's step the x-axis of every metric
    from sandbox.tracking import SECTIONS

    names = {k.split("/_")[0] for h in history for k in h if not k.startswith("_") and k != "step"}
    assert names and all(k.split("/")[0] in SECTIONS for k in names), names
    defined = {(m.glob_name or m.name, m.step_metric) for m in (r.metric for r in records if r.WhichOneof("record_type") == "metric")}
    assert ("*", "step") in defined, defined
    media = run.dir / "wandb" / files[0].parent.name / "files" / "media"
    assert list(media.glob("images/**/*.png")) and list(media.glob("videos/**/*.mp4"))  # W&B keeps a section as a folder
    assert list((run.dir / "media").glob("samples-*.png")) and list((run.dir / "media").glob("video-*.mp4"))


def test_failing_wandb_warns_and_training_finishes(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: online mode cannot log in
    from conftest import run_cli

    out = run_cli("train", *TINY, "steps=40", "model.media=true", "wandb.mode=online", f"out={tmp_path / 'r'}",
                  "--no-progress", env={"CI": "true", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("warning: W&B init failed") == 1
    rows = read_metrics(tmp_path / "r")
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert (tmp_path / "r" / "metrics.jsonl").read_text().endswith("\n")


def test_a_media_upload_that_fails_warns_once(tmp_path, capfd):
    from sandbox.config import WandbConfig

    tracker = Tracker(tmp_path, {"x": 1}, WandbConfig(mode="offline"), "t1", "t1")
    assert tracker.wandb_on
    tracker.log({"loss": 1.0}, 1)
    missing = tmp_path / "no-such-video.mp4"
    tracker.video("video", missing, 2)
    tracker.video("video", missing, 3)
    tracker.log({"loss": 0.5}, 4)
    tracker.close()
    err = capfd.readouterr().err
    assert err.count("warning: W&B video logging failed") == 1
    assert [r["loss"] for r in read_metrics(tmp_path)] == [1.0, 0.5]


def test_metrics_values_are_plain_json(tmp_path):
    import torch

    from sandbox.config import WandbConfig

    tracker = Tracker(tmp_path, {}, WandbConfig(mode="disabled"), "t2", "t2")
    tracker.log({"a": torch.tensor(2.5), "b": np.float32(1.5), "c": float("nan"), "d": 3}, 7)
    tracker.close()
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert row["step"] == 7 and row["a"] == 2.5 and row["b"] == 1.5 and row["c"] is None and row["d"] == 3


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_videos_read_back(tmp_path, suffix):
    import imageio.v2 as imageio

    from sandbox.tracking import write_video

    frames = [np.full((30, 40, 3), 10 * i, np.uint8) for i in range(6)]
    path = write_video(tmp_path / f"v{suffix}", frames, fps=5)
    back = imageio.mimread(path) if suffix == ".gif" else [f for f in imageio.get_reader(path, format="FFMPEG")]
    assert len(back) == 6 and back[0].shape[0] >= 30


def test_an_offline_run_ends_with_the_wandb_sync_line_and_a_disabled_one_does_not(tmp_path):
    """The real CLI, a real W&B offline run: its last line names the offline folder inside the run
    directory and the `wandb sync` command that uploads it (which wandb itself accepts); a resumed
    session adds its own folder to the command; a disabled run prints no such line."""
    import shlex
    import subprocess
    import sys

    from conftest import run_cli

    out = run_cli("train", *TINY, "steps=5", "wandb.mode=offline", f"out={tmp_path / 'r'}", "--no-progress")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "wandb sync" in line]
    assert len(lines) == 1 and out.stdout.splitlines()[-1] == lines[0]
    folders = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    assert len(folders) == 1 and folders[0].is_dir() and list(folders[0].glob("run-*.wandb"))
    assert lines[0] == (f"W&B ran offline: its files are in {folders[0]}; to upload them (after 'wandb login'): "
                        f"wandb sync {folders[0]}")
    command = shlex.split(lines[0].split(": ")[-1])
    assert command[:2] == ["wandb", "sync"] and Path(command[2]) == folders[0]
    dry = subprocess.run([sys.executable, "-m", "wandb", "sync", "--dry-run", *command[2:]], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "WANDB_SILENT": "false"})
    assert dry.returncode == 0 and "Would sync 1 run(s)" in dry.stdout + dry.stderr, dry.stderr

    resumed = run_cli("train", *TINY, "steps=8", "wandb.mode=offline", f"out={tmp_path / 'r'}", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    folders = sorted((tmp_path / "r" / "wandb").glob("offline-run-*"))
    line = resumed.stdout.splitlines()[-1]
    assert len(folders) == 2 and f"its files are in {folders[1]} (and 1 earlier session" in line
    assert line.endswith(f"wandb sync {folders[0]} {folders[1]}")
    from sandbox.tracking import wandb_sync_line

    for log in (tmp_path / "r" / "wandb").glob("offline-run-*/run-*.wandb"):
        log.with_suffix(".wandb.synced").touch()  # the marker `wandb sync` leaves beside what it uploaded
    assert wandb_sync_line(tmp_path / "r") is None

    off = run_cli("train", *TINY, "steps=5", "wandb.mode=disabled", f"out={tmp_path / 'd'}", "--no-progress")
    assert off.returncode == 0, off.stderr
    assert "W&B" not in off.stdout + off.stderr and "wandb sync" not in off.stdout
    assert not (tmp_path / "d" / "wandb").exists()


def test_wandb_run_has_job_type_versions_and_the_best_checkpoint_as_a_model_artifact(tmp_path):
    run = sandbox.train(None, [*TINY, "steps=30", "wandb.mode=offline", "wandb.project=tests", f"out={tmp_path / 'r'}"], progress=False)
    files = list((run.dir / "wandb").glob("offline-run-*/run-*.wandb"))
    records = wandb_records(files[0])
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert runs[0].job_type == "train"
    config = {item.key: json.loads(item.value_json) for item in runs[0].config.update}
    versions = config["versions"]
    assert {"sandbox", "torch", "stable-baselines3", "diffusers", "wandb"} <= set(versions)
    import torch

    assert versions["torch"] == torch.__version__
    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    assert len(artifacts) == 1 and artifacts[0].type == "model" and artifacts[0].name == f"model-{run.info['id']}"
    latest = json.loads((run.dir / "checkpoints" / "latest.json").read_text())["file"]
    refs = {e.path: e.ref for e in artifacts[0].manifest.contents}
    assert refs == {f"{latest}.safetensors": f"file://{run.dir.resolve() / 'checkpoints' / (latest + '.safetensors')}",
                    f"{latest}.json": f"file://{run.dir.resolve() / 'checkpoints' / (latest + '.json')}",
                    "config.yaml": f"file://{run.dir.resolve() / 'config.yaml'}"}


@pytest.mark.parametrize("killed_at,checkpoint", [(13, 10), (3, 0)])
def test_a_resumed_run_continues_the_same_wandb_run_rewound_to_its_checkpoint(tmp_path, killed_at, checkpoint):
    """A real offline W&B run killed after rows it logged past its last checkpoint, then resumed:
    both sessions are the one W&B run (one id); the resume rewinds it to the checkpoint's row
    (wandb's resume_from 'ID?_step=N', recorded in the run record for `wandb sync`), so the rows
    kept from the first session and the second session's rows have strictly increasing W&B rows
    and a run step that never goes backwards, the thrown-away progress not among them, as in
    metrics.jsonl. Also from the checkpoint of step 0, written before any row (W&B rows count from 1)."""
    import signal

    from conftest import run_cli

    d = tmp_path / "r"
    args = [*TINY, "steps=20", "model.checkpoint_every=5", "wandb.mode=offline", f"out={d}", "--no-progress"]
    # killed while writing the row of step `killed_at`: the rows of the steps before it sent to W&B
    first = run_cli("train", *args, env={"SANDBOX_FAULT": f"metrics.jsonl:half-row@{killed_at}"})
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    latest = json.loads((d / "checkpoints" / "latest.json").read_text())
    assert latest["step"] == checkpoint
    assert json.loads((d / "checkpoints" / f"{latest['file']}.json").read_text())["wandb_row"] == checkpoint + 1
    second = run_cli("train", *args)
    assert second.returncode == 0, second.stderr[-2000:]
    run_id = json.loads((d / "run.json").read_text())["id"]
    folders = sorted((d / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and all(f.name.endswith(f"-{run_id}") for f in folders)

    def session(folder: Path) -> tuple[list, list]:
        records = wandb_records(next(folder.glob("run-*.wandb")))
        runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        rows = []
        for r in records:
            if r.WhichOneof("record_type") == "history":
                items = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
                rows.append((items["_step"], items["step"]))
        return runs, rows

    runs1, rows1 = session(folders[0])
    runs2, rows2 = session(folders[1])
    assert runs1[0].run_id == runs2[0].run_id == run_id, "one W&B run across the resume"
    assert rows1 == [(k, k) for k in range(1, killed_at)], "W&B row k holds step k"
    point = runs2[0].branch_point
    assert (point.run, point.metric, point.value) == (run_id, "_step", checkpoint), "rewound to the checkpoint's last row"
    kept = [(w, s) for w, s in rows1 if w <= point.value] + rows2  # the history once `wandb sync` rewinds
    assert [s for _, s in kept] == list(range(1, 21)), "the run's step: each once, never backwards"
    assert all(a < b for (a, _), (b, _) in zip(kept, kept[1:])), "W&B's rows strictly increase"
    assert [r["step"] for r in read_metrics(d)] == list(range(1, 21))


def test_eval_with_wandb_is_a_run_of_job_type_eval_in_the_trained_runs_group(tmp_path, cli):
    run = sandbox.train(None, [*TINY, "steps=12", "model.checkpoint_every=6", "wandb.mode=offline", "wandb.group=g7",
                               f"out={tmp_path / 'r'}"], progress=False)
    before = set((run.dir / "wandb").glob("offline-run-*"))
    r = cli("eval", str(run.dir), "--wandb", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert "W&B (offline, job_type eval, group g7)" in r.stderr and "Traceback" not in r.stderr
    (new,) = set((run.dir / "wandb").glob("offline-run-*")) - before
    records = wandb_records(next(new.glob("run-*.wandb")))
    info = [r.run for r in records if r.WhichOneof("record_type") == "run"][0]
    assert info.job_type == "eval" and info.run_group == "g7" and "eval" in list(info.tags)
    config = {item.key: json.loads(item.value_json) for item in info.config.update}
    assert config["model"]["name"] == "tiny/regress" and config["evaluation"] == {}
    history = [{(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in h.history.item}
               for h in records if h.WhichOneof("record_type") == "history"]
    assert [h["eval/loss"] for h in history if "eval/loss" in h] == [pytest.approx(result["loss"])]
    assert [h["step"] for h in history if "eval/loss" in h] == [json.loads((run.dir / "checkpoints" / "best.json").read_text())["step"]]
    # --wandb is for runs that sandbox train made
    r = cli("eval", str(tmp_path / "nothing.zip"), "--wandb")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--wandb logs the evaluation of a run" in r.stderr
