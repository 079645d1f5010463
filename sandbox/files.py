"""Files of a run directory: atomic writes, and telling a run directory from anything else."""

from __future__ import annotations

import os
import re
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

from sandbox.errors import MachineError, RunDirError, SandboxError
from sandbox.faults import fault_point

#: a checkpoint's step number in a file name (fault points name all steps alike)
STEP_DIGITS = re.compile(r"^step-[0-9]{12}")


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, fsynced. A failed write
    (a full disk) leaves ``path`` as it was and no temporary file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    point = STEP_DIGITS.sub("step", path.name)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode) as fh:
            fault_point(f"{point}:half-written", lambda: (fh.write(data[: len(data) // 2]), fh.flush()))
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point(f"{point}:written")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fault_point(f"{point}:renamed")
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


#: the kernel's virtual file systems: nothing the sandbox makes belongs in them
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"))


def _named(flag: str, path: str | Path) -> str:
    """``--out x.png`` or ``out=x`` as the person typed it."""
    return f"{flag}{path}" if flag.endswith("=") else f"{flag} {path}"


def _check_place(path: Path, flag: str) -> None:
    """Refuse, before any work, a ``path`` whose folder cannot be made or written: a regular file
    where a folder should be (bad input, exit 2), the kernel's /proc or /sys, or a folder without
    write permission or on a read-only disk (the machine, exit 1). Nothing is created here."""
    resolved = Path(os.path.abspath(path))
    for root in VIRTUAL_ROOTS:
        if resolved == root or root in resolved.parents:
            raise MachineError(f"{_named(flag, path)} lies in {root}, the kernel's virtual file system, where no file can be made; "
                               "choose a place on a disk.")
    ancestor = resolved.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SandboxError(f"{_named(flag, path)} cannot be written: {ancestor} is a file, not a folder; choose a place in a folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise MachineError(f"{_named(flag, path)} cannot be written: the folder {ancestor} is read-only or not yours to write in; "
                           "choose a folder you can write to.")


def check_output_file(path: str | Path, flag: str, suffix: str = "") -> Path:
    """``path`` if a file can be written there (its folders made as needed), checked before any
    work, else one sentence: an existing folder or other non-file, a regular file on the way, /proc
    or /sys, a folder that cannot be written (see :func:`_check_place`). ``suffix`` is the ending
    the example file name gets when ``path`` has none (``.png`` for a picture)."""
    p = Path(path)
    if p.is_dir():
        raise SandboxError(f"{_named(flag, p)} is a folder; give the name of a file to write (e.g. {p / ('out' + (p.suffix or suffix))}).")
    if os.path.lexists(p) and not p.is_file():
        raise SandboxError(f"{_named(flag, p)} exists and is not a regular file; give the name of a new file.")
    _check_place(p, flag)
    return p


def output_file_type(flag: str, suffix: str = "") -> Callable[[str], Path]:
    """An argparse ``type=`` for an output file's option (``--out``): :func:`check_output_file`,
    whose sentence becomes the parser's error (usage, the sentence, exit 2) before any work, so that
    a long measurement never ends in a file it cannot write."""
    import argparse

    def check(value: str) -> Path:
        try:
            return check_output_file(value, flag, suffix)
        except SandboxError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return check


def check_output_folder(path: str | Path, flag: str) -> Path:
    """``path`` if a new folder can be made there (or it is an existing folder), checked before any
    work, else one sentence (see :func:`_check_place`)."""
    p = Path(path)
    if os.path.lexists(p) and not p.is_dir():
        raise SandboxError(f"{_named(flag, p)} is a file, not a folder; give a new folder.")
    _check_place(p, flag)
    return p


@contextmanager
def writing(path: str | Path, flag: str) -> Iterator[Path]:
    """Around the writing of the output ``path``: a failure of the machine (a full disk, a
    permission taken away meanwhile) becomes one sentence (exit 1)."""
    target = Path(os.path.abspath(path))
    try:
        yield Path(path)
    except OSError as exc:
        names = [Path(os.path.abspath(f)) for f in (exc.filename, exc.filename2) if isinstance(f, (str, bytes, os.PathLike)) and f]
        if names and not any(n.parent == target.parent or n in target.parents for n in names):
            raise  # not about the output (a run being read, say): its own sentence, or a bug to see
        if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
            raise SandboxError(f"{_named(flag, path)} cannot be written ({exc.strerror or exc}); give the name of a file in a folder.") from None
        raise MachineError(f"{_named(flag, path)} could not be written ({exc.strerror or exc}); nothing else was changed.") from None


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



#: temporary files a killed writer leaves: ``.<name>.tmp-<pid>`` (atomic_write) in the run directory
#: and checkpoints/, also ``<name>.tmp-<pid>`` and ``.tmp-<pid>-<name>`` (pictures, videos) in media/
_ATOMIC_TMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)$")
_MEDIA_TMP = re.compile(r"^(?:\.(?P<a>.+)\.tmp-(?P<pa>[0-9]+)|(?P<b>[^.].*)\.tmp-(?P<pb>[0-9]+)|\.tmp-(?P<pc>[0-9]+)-(?P<c>.+))$")
_CHECKPOINT_FILE = re.compile(r"^(?:step-[0-9]{12}\.(?:safetensors|json)|latest\.json|best\.json)$")
#: the folder a diffusers pipeline export is written to before it is renamed into place
PIPELINE_TMP = "pipeline.tmp"


def _gone(pid: str) -> bool:
    """Whether no process ``pid`` runs any more (its temporary files are leftovers, not work in progress)."""
    n = int(pid)
    if n == os.getpid():
        return False
    try:
        os.kill(n, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return n > 2**22
    return False


def leftover_temporaries(run_dir: str | Path) -> list[Path]:
    """The temporary files (and pipeline.tmp folder) that killed sandbox processes left in ``run_dir``:
    only names the sandbox itself writes, only of processes that no longer run, never symbolic links."""
    run_dir = Path(run_dir)
    found: list[Path] = []

    def scan(folder: Path, pattern: re.Pattern[str], keep: Callable[[re.Match[str]], bool]) -> None:
        if folder.is_symlink() or not folder.is_dir():
            return
        for path in folder.iterdir():
            m = pattern.match(path.name)
            if m and keep(m) and not path.is_symlink() and path.is_file():
                found.append(path)

    scan(run_dir, _ATOMIC_TMP, lambda m: m["name"] in RUN_FILES and _gone(m["pid"]))
    scan(run_dir / "checkpoints", _ATOMIC_TMP, lambda m: bool(_CHECKPOINT_FILE.match(m["name"])) and _gone(m["pid"]))
    scan(run_dir / "media", _MEDIA_TMP, lambda m: _gone(m["pa"] or m["pb"] or m["pc"]))
    pipeline = run_dir / PIPELINE_TMP
    if pipeline.is_dir() and not pipeline.is_symlink():
        found.append(pipeline)
    return found


def clean_temporaries(run_dir: str | Path) -> int:
    """Delete :func:`leftover_temporaries`; how many there were."""
    import shutil

    found = leftover_temporaries(run_dir)
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(found)


def only_leftovers(run_dir: str | Path) -> bool:
    """Whether the folder ``run_dir`` holds nothing but temporaries of a killed sandbox process (a run
    killed before its config.yaml was whole): such a folder starts afresh."""
    run_dir = Path(run_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        return False
    entries = list(run_dir.iterdir())
    return bool(entries) and set(entries) <= set(leftover_temporaries(run_dir))
