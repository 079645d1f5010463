"""Files of a run directory: atomic writes, and telling a run directory from anything else."""

from __future__ import annotations

import os
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
