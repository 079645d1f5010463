"""Every benchmark that writes a results file checks its --out before it measures anything: a
place that cannot be written is the parser's one sentence (exit 2), not a traceback at the end of
hours of measurement."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.files import output_file_type

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["alphazero_connect4", "alphazero_connect4_levers", "alphazero_gnugo", "export_formats", "generative_accelerate",
           "gpu", "gtp_dead_stones"]


def test_the_type_passes_a_writable_file_and_words_the_rest(tmp_path: Path) -> None:
    check = output_file_type("--out", ".json")
    assert check(str(tmp_path / "new" / "r.json")) == tmp_path / "new" / "r.json"
    assert not (tmp_path / "new").exists()  # nothing is made before the work
    (tmp_path / "file").write_text("x")
    for bad, words in ((tmp_path, "is a folder; give the name of a file to write (e.g. "), (tmp_path / "file" / "r.json", "is a file, not a folder"),
                       ("/proc/r.json", "virtual file system")):
        with pytest.raises(argparse.ArgumentTypeError, match=words.replace("(", r"\(").replace(".", r"\.")):
            check(str(bad))


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_out_that_cannot_be_written_stops_the_benchmark_before_it_starts(tmp_path: Path, script: str) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("a file where the folder should be")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--out", str(blocker / "r.json")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(f"{blocker} is a file, not a folder; choose a place in a folder.")
    assert blocker.read_text() == "a file where the folder should be" and sorted(tmp_path.iterdir()) == [blocker]
