"""``sandbox sweep`` on a real local Ray (issue 12): grids over seeds and learning rates, a kill and
``--resume``, Optuna with ASHA, a one-machine cluster joined by address, and bad input.

Every sweep runs as the ``sandbox`` command in a process group of its own; after it exits, no
process may be left in that group (Ray's daemons included)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import finish_in_session, start_in_session, wait_processes_gone

from sandbox import sweep

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("optuna") is None,
    reason="Ray Tune and Optuna are the scale extra: pip install -e '.[scale]' (the README's test command installs it)",
)

PPO = ["agent=ppo", "env=CartPole-v1", "steps=2000", "agent.eval_every=1000", "agent.eval_episodes=2", "agent.eval_video=false",
       "wandb.mode=disabled"]


def sandbox(*args: str, cwd: Path, timeout: float = 420, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the sandbox command in a session of its own; fail if anything of it outlives it."""
    proc = start_in_session(*args, cwd=cwd, env=env)
    out, err = finish_in_session(proc, timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def statuses(folder: Path) -> dict[str, str]:
    return {d.name: json.loads((d / "run.json").read_text()).get("status", "") for d in (folder / "trials").iterdir() if (d / "run.json").is_file()}


# -- the words of a sweep (no Ray) -------------------------------------------------------------------
def test_lists_ranges_and_fixed_words() -> None:
    fixed, axes, ranges = sweep.parse_overrides(["agent=ppo", "seed=0,1,2", "agent.learning_rate=1e-4:1e-2:log",
                                                 "backbone.hidden=[64,64],[128,128]", "wandb.tags=[a,b]", "agent.n_steps=16:64",
                                                 "device=cuda:0"])
    assert fixed == ["agent=ppo", "wandb.tags=[a,b]", "device=cuda:0"]
    assert axes == {"seed": ["0", "1", "2"], "backbone.hidden": ["[64,64]", "[128,128]"]}
    assert [(r.key, r.low, r.high, r.log, r.integer) for r in ranges] == [
        ("agent.learning_rate", 1e-4, 1e-2, True, False), ("agent.n_steps", 16.0, 64.0, False, True)]


def test_grid_and_random_trials_are_every_combination_in_order() -> None:
    spec = sweep.Spec("s", None, [], {"seed": ["0", "1"], "agent.learning_rate": ["1e-3", "3e-4"]}, [], "grid", 4,
                      "eval/mean_return", "max", "none", None, 1.0, 0.0)
    assert sweep.grid_trials(spec) == [{"seed": "0", "agent.learning_rate": "1e-3"}, {"seed": "0", "agent.learning_rate": "3e-4"},
                                       {"seed": "1", "agent.learning_rate": "1e-3"}, {"seed": "1", "agent.learning_rate": "3e-4"}]
    rng = sweep.Spec("s", None, [], {"seed": ["0", "1"]}, [sweep.Range("agent.learning_rate", 1e-4, 1e-2, log=True),
                                                           sweep.Range("agent.n_steps", 16, 64, integer=True)],
                     "random", 3, "eval/mean_return", "max", "none", None, 1.0, 0.0, seed=7)
    drawn = sweep.grid_trials(rng)
    assert len(drawn) == 6 and drawn == sweep.grid_trials(rng)  # the same draws every time: --resume finds the same trials
    for t in drawn:
        assert 1e-4 <= float(t["agent.learning_rate"]) <= 1e-2
        assert 16 <= int(t["agent.n_steps"]) <= 64
    assert len({t["agent.learning_rate"] for t in drawn}) == 6
    assert sweep.trial_name(3, {"seed": "1", "agent.learning_rate": "3e-4"}, ["seed", "agent.learning_rate"]) == "003-seed=1-learning_rate=3e-4"


@pytest.mark.parametrize("words, flags, says", [
    (["seed=0,1"], ["--search", "bayes"], "not a search"),
    (["seed=0,1"], ["--scheduler", "hyperband"], "not a scheduler"),
    ([], [], "nothing is varied"),
    (["agent.learning_rate=1e-4:1e-2"], ["--search", "grid"], "is a range"),
    (["seed=0,1"], ["--trials", "3"], "--trials is for"),
    (["agent.learning_rate=1e-4:1e-2"], ["--trials", "0"], "--trials 0"),
    (["seed=0,1"], ["--parallel", "0"], "--parallel 0"),
    (["seed=0,1"], ["--cpus-per-trial", "0"], "--cpus-per-trial 0"),
    (["seed=0,1"], ["--gpus-per-trial", "-1"], "--gpus-per-trial -1"),
    (["seed=0,1"], ["--mode", "up"], "--mode up"),
    (["seed=0,1"], ["--cpus", "0"], "--cpus 0"),
    (["seed=0,1"], ["--seed", "-1"], "--seed -1"),
    (["agent.learning_rate=1e-2:1e-4"], [], "lo below hi"),
    (["agent.learning_rate=0:1e-2:log"], [], "above 0"),
    (["agent.learning_rate=1e-4,-1"], [], "out of range"),
    (["agent.learning_rate=1e-4:1e-2", "agent.learning_rate=1,2"], [], "varied twice"),
    (["seed=0,,1"], [], "empty value"),
    (["seed=0,0"], [], "repeats a value"),
    (["seed=0,1", "out=x"], [], "out= is chosen by the sweep"),
    (["agent.learnin_rate=1e-4,1e-3"], [], "learning_rate"),
    (["seed=0,1", "stray"], [], "neither a key=value"),
    (["seed=0,1"], ["--search", "optuna"], "needs something to choose"),
    (["seed=" + ",".join(map(str, range(200))), "agent.learning_rate=" + ",".join(f"{i}e-5" for i in range(1, 60))], [], "more than"),
])
def test_bad_sweep_words_and_flags_are_one_sentence(words: list[str], flags: list[str], says: str, tmp_path: Path, capsys) -> None:
    from sandbox.cli import main

    rc = main(["sweep", *PPO, *words, *flags, "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert says in err, err
    assert not (tmp_path / "s").exists()


def test_resume_refuses_settings_and_folders_that_are_not_sweeps(tmp_path: Path, capsys) -> None:
    from sandbox.cli import main

    (tmp_path / "s").mkdir()
    assert main(["sweep", "--resume", str(tmp_path / "s")]) == 2
    assert f"{tmp_path / 's'} has no sweep.json" in capsys.readouterr().err
    assert main(["sweep", "--resume", str(tmp_path / "s"), "--trials", "3"]) == 2
    assert "--trials does not apply" in capsys.readouterr().err
    (tmp_path / "s" / "sweep.json").write_text('{"spec": [1, 2]}')
    assert main(["sweep", "--resume", str(tmp_path / "s")]) == 2
    assert "is damaged" in capsys.readouterr().err
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_text("keep")
    assert main(["sweep", *PPO, "seed=0,1", "--out", str(tmp_path / "t")]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "t" / "x").read_text() == "keep"


def test_the_python_api_checks_like_the_command(tmp_path: Path) -> None:
    """sandbox.sweep.run: the command's checks, before Ray starts; a folder holding a sweep is
    finished with its own settings (so a notebook cell run twice trains nothing twice)."""
    from sandbox import sweep
    from sandbox.errors import ConfigError, RunDirError

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_text("keep")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        sweep.run(None, [*PPO, "seed=0,1"], tmp_path / "t")
    with pytest.raises(ConfigError, match="--cpus 0 must be a positive number"):
        sweep.run(None, [*PPO, "seed=0,1"], tmp_path / "u", cpus=0)
    with pytest.raises(ConfigError, match="nothing is varied"):
        sweep.run(None, PPO, tmp_path / "u")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "sweep.json").write_text('{"spec": [1, 2]}')
    with pytest.raises(RunDirError, match="is damaged"):
        sweep.run(None, [*PPO, "seed=0,1"], tmp_path / "d")
    assert (tmp_path / "t" / "x").read_text() == "keep" and not (tmp_path / "u").exists()


def test_a_damaged_trial_name_is_refused_not_followed(tmp_path: Path, capsys) -> None:
    """sweep.json is data: a trial name that would reach outside trials/ is refused."""
    from sandbox.cli import main

    spec = sweep.make_spec(None, [*PPO, "seed=0,1"], search=None, trials=None, metric=None, mode=None, scheduler="none",
                           parallel=None, cpus_per_trial=1.0, gpus_per_trial=0.0, name="s")
    (tmp_path / "s").mkdir()
    doc = {"spec": spec.to_dict(), "trials": [{"name": "../../etc", "values": {"seed": "0"}}]}
    (tmp_path / "s" / "sweep.json").write_text(json.dumps(doc))
    assert main(["sweep", "--resume", str(tmp_path / "s")]) == 2
    assert "is not a folder name the sandbox writes" in capsys.readouterr().err


def test_compare_draws_a_sweep_of_seeds_alone_as_one_band(tmp_path: Path) -> None:
    """Trials that differ by their seed only are one group (named after the sweep): compare draws
    them as one line with a band; with another varied key, one group per value of it."""
    for extra, expected in (([], ["seeds", "seeds", "seeds"]),
                            (["agent.learning_rate=1e-3,3e-4"], ["learning_rate=1e-3", "learning_rate=3e-4"] * 3)):
        spec = sweep.make_spec(None, [*PPO, "seed=0,1,2", *extra], search=None, trials=None, metric=None, mode=None, scheduler="none",
                               parallel=None, cpus_per_trial=1.0, gpus_per_trial=0.0, name="seeds")
        folder = tmp_path / str(len(extra)) / "seeds"
        trials = [{"name": sweep.trial_name(i, v, spec.varied), "values": v} for i, v in enumerate(sweep.grid_trials(spec))]
        for t in trials:
            (folder / "trials" / t["name"]).mkdir(parents=True)
            (folder / "trials" / t["name"] / "metrics.jsonl").write_text('{"step": 1, "time": 0.1, "eval/mean_return": 9.0}\n')
        sweep.write_sweep(folder, spec, trials, "finished")
        dirs, groups = sweep.compare_groups(folder)
        assert [groups[d] for d in dirs] == expected


def test_without_ray_the_sweep_says_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; sys.modules['ray.tune'] = None; from sandbox.cli import main; "
            f"sys.exit(main(['sweep', *{PPO!r}, 'seed=0,1', '--out', {str(tmp_path / 's')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith("error: 'sandbox sweep' needs ray[tune]") and 'pip install -e ".[scale]"' in r.stderr
    assert "Traceback" not in r.stderr


# -- real sweeps on a local Ray ------------------------------------------------------------------------
@needs_ray
def test_a_grid_of_seeds_and_learning_rates(tmp_path: Path) -> None:
    """Two seeds × two learning rates of PPO on CartPole, a local Ray of 2 CPUs: four ordinary run
    directories, sweep.json, the curves, and compare draws the sweep as two groups of two seeds."""
    r = sandbox("sweep", *PPO, "seed=0,1", "agent.learning_rate=1e-3,3e-4", "--out", "sw", "--cpus", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = tmp_path / "sw"
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["status"] == "finished" and doc["metric"] == "eval/mean_return", [t.get("error") for t in doc["trials"]]
    assert [t["name"] for t in doc["trials"]] == ["000-seed=0-learning_rate=1e-3", "001-seed=0-learning_rate=3e-4",
                                                  "002-seed=1-learning_rate=1e-3", "003-seed=1-learning_rate=3e-4"]
    for t in doc["trials"]:
        assert t["status"] == "finished" and t["steps"] >= 2000 and isinstance(t["eval/mean_return"], float)
        cfg = (folder / "trials" / t["name"] / "config.yaml").read_text()
        assert f"seed: {t['values']['seed']}" in cfg and "group: sw" in cfg
        assert f"learning_rate: {float(t['values']['agent.learning_rate'])}" in cfg
    assert statuses(folder) == {t["name"]: "finished" for t in doc["trials"]}
    assert (folder / "curves.png").stat().st_size > 10_000
    assert "best (max eval/mean_return" in r.stdout and "4 of 4 trials ended" in r.stdout
    # compare draws it: one row per learning rate, each the mean of two seeds
    c = sandbox("compare", "sw", "--out", "c.png", "--metric", "eval/mean_return", cwd=tmp_path, timeout=120)
    assert c.returncode == 0, c.stderr
    rows = [line for line in c.stdout.splitlines() if "(group)" in line]
    assert len(rows) == 2 and all(" 2 " in row for row in rows), c.stdout
    assert (tmp_path / "c.png").stat().st_size > 10_000
    # a trial is an ordinary run: eval works on it
    e = sandbox("eval", f"sw/trials/{doc['trials'][0]['name']}", "--episodes", "2", "--json", cwd=tmp_path, timeout=120)
    assert e.returncode == 0 and json.loads(e.stdout)["episodes"] == 2


@needs_ray
def test_a_killed_sweep_resumes_without_redoing_finished_trials(tmp_path: Path) -> None:
    """The sweep's whole process group killed (SIGKILL) after its first trial ended; --resume keeps
    the finished trials byte for byte, resumes the one that was cut, and runs the rest."""
    folder = tmp_path / "sw"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "sweep", *PPO, "steps=8000", "agent.eval_every=4000", "seed=0,1",
                             "agent.learning_rate=1e-3,3e-4",
                             "--out", "sw", "--parallel", "1", "--cpus", "2"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (folder / "trials").is_dir() and list(statuses(folder).values()).count("finished") >= 1:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_processes_gone(proc.pid)
    time.sleep(2.0)  # the trials' processes (a session of their own) die with their raylet: nothing writes any more
    before = statuses(folder)
    finished = [n for n, s in before.items() if s == "finished"]
    assert 1 <= len(finished) < 4, before
    kept = {n: digest(folder / "trials" / n / "metrics.jsonl") for n in finished}
    assert json.loads((folder / "sweep.json").read_text())["status"] == "running"

    r = sandbox("sweep", "--resume", "sw", "--cpus", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert statuses(folder) == {n: "finished" for n in statuses(folder)} and len(statuses(folder)) == 4
    for n, h in kept.items():  # not run again
        assert digest(folder / "trials" / n / "metrics.jsonl") == h
    assert f"{4 - len(finished)} trial" in r.stderr
    for d in (folder / "trials").iterdir():  # the cut trial resumed: its steps never go backwards
        steps = [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert steps == sorted(steps)
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["status"] == "finished" and all(t["eval/mean_return"] is not None for t in doc["trials"])


@needs_ray
def test_ctrl_c_stops_the_sweep_and_leaves_no_ray_process(tmp_path: Path) -> None:
    folder = tmp_path / "sw"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "sweep", *PPO, "steps=3000", "seed=0,1,2", "--out", "sw", "--parallel", "1",
                             "--cpus", "2"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (folder / "trials").is_dir() and statuses(folder):
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to the whole foreground group
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-2000:]
    assert "resume it with: sandbox sweep --resume" in err and "Traceback" not in err
    assert not wait_processes_gone(proc.pid)
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["status"] == "interrupted"
    # no trial is left saying "running": the one cut (at its start-up or later) reads interrupted
    assert not any(t["status"] == "running" for t in doc["trials"]), doc["trials"]


def test_a_trial_whose_process_is_gone_reads_interrupted(tmp_path: Path) -> None:
    """A trial run killed before it could close (run.json still says running, for a process of
    this machine that no longer runs) is interrupted in the sweep's table; one trained on another
    machine, or still running, is left as it says."""
    from sandbox.sweep import trial_status

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    run = tmp_path / "t"
    run.mkdir()
    (run / "config.yaml").write_text("agent: ppo\n")

    def status(**info: object) -> str:
        (run / "run.json").write_text(json.dumps({"id": "abcdef123456", "status": "running", **info}))
        return trial_status(run)["status"]

    assert status(pid=int(gone.stdout), host=socket.gethostname()) == "interrupted"
    assert status(pid=os.getppid(), host=socket.gethostname()) == "running"  # a live process
    assert status(pid=int(gone.stdout), host="another-machine") == "running"


@needs_ray
def test_optuna_with_asha_on_a_2d_ddpm(tmp_path: Path) -> None:
    """Four trials chosen by Optuna (TPE) on a log range of learning rates, the poor ones stopped
    early by ASHA; each trial's run closes itself (status stopped or finished, a last checkpoint)."""
    r = sandbox("sweep", "ddpm-2d", "max_minutes=null", "steps=400", "model.eval_every=100", "model.eval_n=64", "model.sample_every=0",
                "wandb.mode=disabled", "model.lr=1e-4:3e-3:log", "--search", "optuna", "--trials", "4", "--scheduler", "asha",
                "--out", "sw", "--cpus", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert doc["spec"]["search"] == "optuna" and doc["metric"] == "eval/sliced_wasserstein" and doc["mode"] == "min"
    assert len(doc["trials"]) == 4 and doc["status"] == "finished"
    lrs = {float(t["values"]["model.lr"]) for t in doc["trials"]}
    assert len(lrs) == 4 and all(1e-4 <= x <= 3e-3 for x in lrs)
    for t in doc["trials"]:
        assert t["status"] in ("finished", "stopped") and t["eval/sliced_wasserstein"] is not None
        run = tmp_path / "sw" / "trials" / t["name"]
        assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == t["steps"]
    assert doc["best"] == min(doc["trials"], key=lambda t: t["eval/sliced_wasserstein"])["name"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_ray
def test_a_sweep_joins_a_running_cluster_by_address(tmp_path: Path) -> None:
    """A one-machine Ray cluster started as 'ray start --head' would start it; the sweep joins it
    with --address and leaves it running; the test stops it."""
    port = free_port()
    ray_cli = str(Path(sys.executable).parent / "ray")
    head = subprocess.Popen([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats", "--block"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline and head.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                time.sleep(1.0)
        else:
            pytest.fail("the test's Ray head did not start")
        r = sandbox("sweep", *PPO, "seed=0,1", "--out", "sw", "--address", address, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"on the Ray cluster at {address}" in r.stderr
        assert set(statuses(tmp_path / "sw").values()) == {"finished"} and len(statuses(tmp_path / "sw")) == 2
        assert head.poll() is None  # joining left the cluster running
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        if wait_processes_gone(head.pid, 30):
            os.killpg(head.pid, signal.SIGKILL)
    assert not wait_processes_gone(head.pid, 10)


@needs_ray
def test_an_unreachable_address_is_one_sentence(tmp_path: Path) -> None:
    r = sandbox("sweep", *PPO, "seed=0,1", "--out", "sw", "--address", f"127.0.0.1:{free_port()}", cwd=tmp_path, timeout=180)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not join the Ray cluster at 127.0.0.1:"), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("damage", [{"ranges": [{"key": "x", "low": "a", "high": 2}]}, {"axes": {"seed": []}}, {"trials": -3},
                                    {"fixed": "agent=ppo"}, {"cpus_per_trial": "x"}, {"ranges": 5}, {"bogus": 1}, {"search": "bayes"}])
def test_a_damaged_spec_is_one_sentence(damage: dict, tmp_path: Path, capsys) -> None:
    from sandbox.cli import main

    spec = sweep.make_spec(None, [*PPO, "seed=0,1"], search=None, trials=None, metric=None, mode=None, scheduler="none",
                           parallel=None, cpus_per_trial=1.0, gpus_per_trial=0.0, name="s")
    (tmp_path / "sweep.json").write_text(json.dumps({"spec": {**spec.to_dict(), **damage}, "trials": []}))
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is damaged" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "trials").exists()
