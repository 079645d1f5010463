"""A full disk: a run whose checkpoint write hits ENOSPC ends in one sentence (exit 1, one
``error:`` line), keeps its last whole checkpoint loadable and leaves no temporary file.

The disk is a real one: a 1 MB tmpfs mounted in a mount namespace of its own (``unshare -m``,
with ``-r`` for a user that is not root), so nothing outside the test sees it and it goes away
with the namespace. Where the machine refuses the namespace or the mount, the test is skipped
with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: the tiny plugin, big enough that a checkpoint (weights, Adam's moments, RNG) takes about 60 kB
TINY = ["model=tiny/regress", "backbone.hidden=[64,64]", "model.checkpoint_every=10", "wandb.mode=disabled"]
#: bytes left free on the full disk: room for run.json and metric rows, not for a checkpoint
LEFT_FREE = 16 * 1024

DRIVER = r'''
import json, os, subprocess, sys
from pathlib import Path

disk, args = Path(sys.argv[1]), json.loads(sys.argv[2])
left_free = int(sys.argv[3])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
run = disk / "run"
train = [sys.executable, "-m", "sandbox", "train", *args, f"out={run}", "--no-progress"]
first = subprocess.run([*train, "steps=20"], capture_output=True, text=True)
facts = {"first_rc": first.returncode, "first_err": first.stderr[-2000:], "used": sum(p.stat().st_size for p in run.rglob("*") if p.is_file())}
# fill the disk, then give back just a little
filler = disk / "filler"
with open(filler, "wb", buffering=0) as fh:
    try:
        while True:
            fh.write(b"\0" * 4096)
    except OSError:
        pass
size = filler.stat().st_size
os.truncate(filler, max(0, size - left_free))
full = subprocess.run([sys.executable, "-m", "sandbox", "train", f"out={run}", "steps=40", "--no-progress"],
                      capture_output=True, text=True)
facts.update(rc=full.returncode, stderr=full.stderr)
from sandbox.run import load_checkpoint, read_pointer
import sandbox

facts["latest"] = read_pointer(run, "latest")
facts["latest_loads"] = load_checkpoint(run, "latest") is not None
sandbox.load(run)
facts["left"] = [str(p.relative_to(run)) for p in run.rglob("*") if ".tmp" in p.name]
facts["status"] = json.loads((run / "run.json").read_text()).get("status")
# with the space back, the run resumes and finishes
filler.unlink()
again = subprocess.run([sys.executable, "-m", "sandbox", "train", f"out={run}", "steps=40", "--no-progress"],
                       capture_output=True, text=True)
facts.update(again_rc=again.returncode, again_err=again.stderr[-2000:], again_latest=read_pointer(run, "latest"))
print("FACTS " + json.dumps(facts))
'''


def namespace_command() -> list[str] | str:
    """The command that runs a program in a mount namespace of its own, or why there is none."""
    if sys.platform != "linux":
        return "mount namespaces are Linux's"
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        return "no 'unshare' or 'mount' command on this machine"
    return [unshare, "-m"] if os.geteuid() == 0 else [unshare, "-r", "-m"]


def test_a_checkpoint_write_on_a_full_disk_is_one_sentence(tmp_path: Path) -> None:
    command = namespace_command()
    if isinstance(command, str):
        pytest.skip(f"no small filesystem to fill: {command}")
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    probe = subprocess.run([*command, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe_dir)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not let a test mount a small filesystem: {probe.stderr.strip()[:200]}")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = subprocess.run([*command, sys.executable, str(script), str(disk), json.dumps(TINY), str(LEFT_FREE)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "SANDBOX_FAULT": ""})
    line = [x for x in out.stdout.splitlines() if x.startswith("FACTS ")]
    assert out.returncode == 0 and line, out.stderr[-3000:]
    facts = json.loads(line[0][len("FACTS "):])
    assert facts["first_rc"] == 0, facts["first_err"]
    # the full disk: exit 1 and one sentence, no traceback
    assert facts["rc"] == 1, facts["stderr"]
    errors = [x for x in facts["stderr"].splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "full" in errors[0] and "Traceback" not in facts["stderr"], facts["stderr"]
    # the last whole checkpoint kept, loadable; no temporary file; the run not marked finished
    assert facts["latest"]["step"] == 20 and facts["latest_loads"]
    assert facts["left"] == []
    assert facts["status"] == "failed"
    # space back: the same command resumes and finishes
    assert facts["again_rc"] == 0, facts["again_err"]
    assert facts["again_latest"]["step"] == 40
