"""A run directory is data, never a door: its files and folders may not be symbolic links out of it,
its pointers name only checkpoints inside checkpoints/, and pruning deletes only checkpoint pairs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import sandbox
from sandbox.errors import RunDirError
from sandbox.run import read_pointer

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]"]


def tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    sandbox.train(None, [*TINY, "steps=6", f"out={d}"], progress=False)
    return d


@pytest.mark.parametrize("name", ["checkpoints", "media", "metrics.jsonl", "run.json"])
def test_a_symlink_out_of_the_run_is_refused_and_nothing_outside_changes(run_dir, tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    target = run_dir / name
    if target.exists():
        if target.is_dir():
            target.rename(outside / name)
        else:
            target.rename(outside / name)
    else:
        (outside / name).mkdir()
    target.symlink_to(outside / name)
    before = tree_hash(outside)
    with pytest.raises(RunDirError, match="symbolic link"):
        sandbox.train(None, [f"out={run_dir}", "steps=12"], progress=False)
    if name != "media":  # loading reads checkpoints, metrics and run.json; media is only written by training
        with pytest.raises(RunDirError, match="symbolic link"):
            sandbox.load(run_dir)
    assert tree_hash(outside) == before


def test_a_pointer_that_names_a_file_outside_checkpoints_is_refused(run_dir):
    pointer = run_dir / "checkpoints" / "latest.json"
    data = json.loads(pointer.read_text())
    data["file"] = "../../../etc/passwd"
    pointer.write_text(json.dumps(data))
    with pytest.raises(RunDirError, match="must name a checkpoint"):
        read_pointer(run_dir, "latest")


def test_pruning_deletes_only_checkpoint_pairs(tmp_path):
    run_dir = tmp_path / "pruned"
    sandbox.train(None, [*TINY, "steps=4", "model.checkpoint_every=2", f"out={run_dir}"], progress=False)
    mine = run_dir / "checkpoints" / "step-notes.txt"
    mine.write_text("a user's file with a checkpoint-like name")
    sandbox.train(None, [f"out={run_dir}", "steps=12"], progress=False)
    assert mine.read_text().startswith("a user's file")
    stems = {p.name.split(".")[0] for p in (run_dir / "checkpoints").glob("step-0*")}
    assert stems == {read_pointer(run_dir, w)["file"] for w in ("latest", "best")}
