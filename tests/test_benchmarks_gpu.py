"""benchmarks/gpu.py, shortened on the CPU (tiny budgets), so that the GPU script cannot rot: every
part runs and lands in gpu_cpu.json, the sweep part only where Ray is installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--cpu", "--runs", str(tmp_path / "runs"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_every_part_but_the_sweep_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_cpu.json"
    r = bench("--out", str(out), "--skip", "sweep", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["mode"] == "cpu (shortened)" and doc["ok"] is True
    rows = {row["part"]: row for row in doc["rows"]}
    assert list(rows) == ["device", "ppo-pong", "ddpm-digits", "ddpm-fid", "alphazero-connect4"]
    assert rows["device"]["auto"] == "cpu" or rows["device"]["cuda_available"]
    assert rows["ppo-pong"]["steps"] >= 512 and rows["ppo-pong"]["steps_per_s"] > 0
    assert rows["ddpm-digits"]["precision"] == "fp32" and rows["ddpm-digits"]["images_per_s"] > 0
    assert rows["ddpm-fid"]["fid"] > 0 and rows["ddpm-fid"]["fid_floor"] > 0
    assert rows["alphazero-connect4"]["sims_per_s"] > 0
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("mode") and any(line.startswith("part") for line in lines[-8:])  # the table comes last
    assert (tmp_path / "runs" / "ddpm-digits" / "metrics.jsonl").exists()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the sweep part needs Ray (pip install -e '.[scale]')")
def test_the_sweep_part_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_cpu.json"
    r = bench("--out", str(out), "--skip", "ppo,ddpm,az", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {row["part"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["sweep"]["statuses"] == ["finished", "finished"] and rows["sweep"]["gpus_per_trial"] == 0


def test_the_cpu_run_never_writes_gpu_figures(tmp_path: Path) -> None:
    r = bench("--out", str(tmp_path / "gpu.json"), "--skip", "ppo,ddpm,az,sweep", tmp_path=tmp_path)
    assert r.returncode != 0 and "writes gpu_cpu.json, not gpu.json" in r.stderr
    assert not (tmp_path / "gpu.json").exists()
