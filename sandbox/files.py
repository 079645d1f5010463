"""Files of a run directory: atomic writes, and telling a run directory from anything else."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sandbox.errors import RunDirError


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, fsynced."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a sandbox run directory (it holds a config.yaml)."""
    return (Path(path) / "config.yaml").is_file()


def check_run_dir(path: str | Path) -> Path:
    """``path`` as a Path if it is a sandbox run directory, else a RunDirError saying what it is."""
    p = Path(path)
    if not p.exists():
        raise RunDirError(f"no run directory at {p}; give the out= folder of a 'sandbox train' run (e.g. runs/<name>).")
    if not p.is_dir():
        raise RunDirError(f"{p} is a file, not a run directory; give the out= folder of a 'sandbox train' run.")
    if not is_run_dir(p):
        raise RunDirError(f"{p} is not a sandbox run directory (it has no config.yaml); give the out= folder of a 'sandbox train' run.")
    return p


#: what the sandbox writes in a run directory: nothing else in it is opened for writing or deleted
RUN_FILES = ("config.yaml", "run.json", "metrics.jsonl", "metrics.discarded.jsonl", "checkpoints", "media", "wandb")
#: the names of checkpoint pairs (step-<12 digits>), the only files pruning deletes
CHECKPOINT_STEM = re.compile(r"^step-[0-9]{12}$")


def check_contained(run_dir: str | Path) -> Path:
    """``run_dir`` if none of the files and folders the sandbox writes in it is a symbolic link (a
    door to somewhere else) or a file of the wrong kind; else a RunDirError that says which."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_symlink():
            raise RunDirError(f"{path} is a symbolic link; a run directory's files must be its own (the sandbox writes only "
                              "inside the run directory): replace the link with the real file or folder.")
        folder = name in ("checkpoints", "media", "wandb")
        if path.exists() and (path.is_dir() != folder or not (folder or path.is_file())):
            kind = "a folder" if folder else "a regular file"
            raise RunDirError(f"{path} should be {kind} and is not; move it out of the run directory or restore it.")
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir():
        for path in checkpoints.iterdir():
            if path.is_symlink():
                raise RunDirError(f"{path} is a symbolic link; a run directory's files must be its own: replace it with the real file.")
    return run_dir

