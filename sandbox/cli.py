"""The ``sandbox`` command. Exit codes: 0 done, 2 bad input, 1 failure, 130 interrupted.

Imports stay inside the commands so that ``sandbox --help`` and ``sandbox list`` load no model code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.tuned import Tuned

DESCRIPTION = """\
Train agents and generative models on shared backbones, watch them play, sample from them, and
compare runs.

  sandbox demo                                   a short tour that ends with things to look at
  sandbox list                                   what is registered
  sandbox train ppo-cartpole                     train from a preset (see 'sandbox list')
  sandbox train agent=ppo env=CartPole-v1 backbone=mlp steps=50000 agent.learning_rate=3e-4
  sandbox train agent=ppo --help                 the fields of a plugin, with defaults
  sandbox eval runs/NAME --episodes 20 --json
  sandbox play runs/NAME --record game.mp4
  sandbox sample runs/NAME --n 64 --out grid.png
  sandbox compare runs/A runs/B --out curves.png
  sandbox sweep ppo-cartpole seed=0,1,2 agent.learning_rate=1e-4,3e-4   six runs on Ray, a table and curves
  sandbox export runs/NAME --to my-model       a Hub model folder (--push OWNER/NAME uploads it)
  sandbox export runs/NAME --to DIR --format onnx   (or sb3, diffusers) for other libraries
  sandbox gtp runs/NAME                          a Go agent as a GTP engine (GoGui, Sabaki, GNU Go)
"""

GTP_HELP = """\
Play Go with the AlphaZero agent of RUN_DIR (a go9 run, or a folder 'sandbox export' wrote) as a
GTP engine: the Go Text Protocol, version 2, on stdin and stdout, which GoGui, Sabaki, GNU Go's
twogtp and bot arenas speak. Only the protocol's answers go to stdout; a line about each move the
agent makes (and any error) goes to stderr.

Commands: protocol_version, name, version, known_command, list_commands, boardsize (the run's size
only), clear_board, komi, play, genmove, reg_genmove, undo, showboard, final_score, time_settings
and time_left (main time and Canadian byo-yomi: with a clock, each move searches as many of the
--simulations as its share of the time left allows, a period's time over its stones, main time
over half the empty points; without one, all of them), the handicap
commands fixed_handicap, place_free_handicap and set_free_handicap (black stones on the empty
board, then white moves; no compensation beyond the komi the controller sets), final_status_list
dead|alive|seki (from the network's ownership head, where the run has one: a group is dead unless
the head keeps its points its colour with probability 0.9; seki is never told apart), kgs-genmove_cleanup (KGS's
clean-up phase: a move as with --play-out, passing only when nothing but its own eyes is left), quit.
Rules: area scoring with komi, positional superko, no suicide. Vertices as D4 (columns A to T
without I, rows counted from the bottom), pass; genmove answers resign only with --resign.
final_score counts the board as it stands (Tromp-Taylor): dead stones count as alive.

examples:
  printf 'genmove b\\nshowboard\\nquit\\n' | sandbox gtp runs/go9 --quiet
  Sabaki or GoGui: add the engine command  sandbox gtp /path/to/runs/go9 --simulations 200
  gogui-twogtp -black "sandbox gtp runs/go9" -white "gnugo --mode gtp --chinese-rules --komi 7.5" -games 10 -auto
"""

TRAIN_HELP = """\
usage: sandbox train [PRESET | CONFIG.yaml] [key=value ...] [--no-progress]

Train the agent or generative model a preset, a YAML file and key=value overrides describe.
'agent=NAME' or 'model=NAME' selects a plugin, 'agent.FIELD=VALUE' sets one of its fields (the same
for env=, data= and backbone=). With out= naming an existing run, that run resumes from its latest
checkpoint with its own config and what is left of its budget; besides steps=, max_minutes=,
checkpoint_minutes= and device=, only keys of where it trains may change (threads, agent.actors=).
Ctrl-C writes a checkpoint and stops. Progress: a bar on a terminal; into a file or a pipe a line a
minute (step, share of the budget, time spent and left, the last metrics); --no-progress: neither.
"""


SWEEP_HELP = """\
Run many trainings of one config on Ray Tune, locally or on a cluster, and compare them.

  key=a,b,c        a grid axis: every combination of the lists is a trial (seed=0,1,2 repeats each over seeds)
  key=lo:hi[:log]  a range the search draws from (integers when both ends are; :log draws in the logarithm)
  key=value        fixed for every trial, as in 'sandbox train'

Each trial is an ordinary run directory in DIR/trials/ (eval, play, sample and resume it as any run);
DIR/sweep.json holds every trial's values, status, steps, time and metric, and DIR/curves.png draws
one line per varied value with a band over seeds. Ctrl-C or a kill stops the sweep; --resume DIR
finishes it without redoing finished trials. Needs the scale extra: pip install -e ".[scale]".

  sandbox sweep ppo-cartpole seed=0,1 agent.learning_rate=1e-4,1e-3 steps=20000
  sandbox sweep ddpm-2d model.lr=1e-4:3e-3:log --search optuna --trials 8 --scheduler asha
  sandbox sweep ppo-cartpole seed=0,1,2,3 --address auto       on a running Ray cluster
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SandboxError(f"{message}; see '{self.prog} --help'.")


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="sandbox", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="sandbox 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    s = sub.add_parser("list", help="list registered agents, generative models, data sets, backbones, envs and presets")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("train", help="train from a preset or YAML file with key=value overrides", add_help=False)

    s = sub.add_parser("eval", help="evaluate a trained run")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--episodes", type=int, help="episodes to play (agents)")
    s.add_argument("--games", type=int, help="games to play (board games)")
    s.add_argument("--opponent", help="board games: random, mcts:N, perfect (tic-tac-toe) or gnugo:L (Go: GNU Go at level L, 0 to 10)")
    s.add_argument("--n", type=int, help="generative models: samples to measure")
    s.add_argument("--draws", type=int, metavar="K",
                   help="generative models: measure K times, each with new samples against new real halves, and give the "
                        "means with their spread (fid_std); one draw of a few hundred digits is noisy (default 1)")
    s.add_argument("--sampler", help="diffusion models: dpm, ddim or ddpm; flow matching: euler or heun (default: the run's model.sampler)")
    s.add_argument("--steps", type=int, help="diffusion models: sampling steps (default: the run's model.steps; for ddpm 20 with dpm or ddim, all with ddpm; for flow 10 with euler, 5 with heun)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    s.add_argument("--env", help="a stable-baselines3 zip's env (default: from the zip's name, as RL Zoo names them)")
    s.add_argument("--data", metavar="NAME[,key=value...]",
                   help="a diffusers pipeline folder: the data set its FID compares with (e.g. digits, or mnist,path=DIR)")
    _checkpoint_flag(s, "evaluate")
    s.add_argument("--wandb", action="store_true",
                   help="also log the evaluation to W&B as a run of job_type eval in the trained run's group (files under RUN_DIR/wandb; "
                        "offline unless the run's wandb.mode is online)")

    s = sub.add_parser("play", help="watch a trained agent play, record it, or play an env yourself")
    s.add_argument("target", metavar="RUN_DIR|ENV_ID")
    s.add_argument("--episodes", type=int, default=1, help="episodes (or games) to play")
    s.add_argument("--record", metavar="FILE", help="write FILE.mp4 or FILE.gif instead of opening a window")
    s.add_argument("--human", action="store_true", help="you play (keyboard or mouse)")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")
    s.add_argument("--env", help="a stable-baselines3 zip's env (default: from the zip's name, as RL Zoo names them)")
    _checkpoint_flag(s, "play")

    s = sub.add_parser("sample", help="sample images from a trained generative model")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, metavar="FILE", help="FILE.png for a grid, FILE.npz for the raw samples")
    s.add_argument("--sampler", help="diffusion models: dpm, ddim or ddpm; flow matching: euler or heun (default: the run's model.sampler)")
    s.add_argument("--steps", type=int, help="diffusion models: sampling steps (default: the run's model.steps; for ddpm 20 with dpm or ddim, all with ddpm; for flow 10 with euler, 5 with heun)")
    s.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    s.add_argument("--label", type=int, help="class to sample (class-conditional models)")
    _checkpoint_flag(s, "sample")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")

    s = sub.add_parser("compare", help="learning curves and a table of several runs")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR|SWEEP_DIR")
    s.add_argument("--out", required=True, metavar="FILE.png")
    s.add_argument("--metric", action="append", help="a metric to draw (repeatable; default: the main ones)")
    s.add_argument("--smooth", type=float, default=0.6, metavar="W",
                   help="exponential moving average of the curves, 0 (raw) to below 1; the raw points stay faint behind (default 0.6)")

    s = sub.add_parser("sweep", help="many runs of one config on Ray Tune: grids, random or Optuna searches, seeds",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=SWEEP_HELP)
    s.add_argument("words", nargs="*", metavar="[PRESET | CONFIG.yaml] key=value", help="the config, and what to vary: key=a,b,c or key=lo:hi[:log]")
    s.add_argument("--trials", type=int, help="random: draws of the ranges per combination of the lists (default 4); optuna: configurations to try (default 8)")
    s.add_argument("--search", choices=None, metavar="grid|random|optuna", help="grid (default without ranges), random (default with ranges) or optuna")
    s.add_argument("--metric", help="the logged metric that ranks trials (default: eval/mean_return for agents, elo for AlphaZero, fid or sliced_wasserstein for models)")
    s.add_argument("--mode", metavar="max|min", help="whether more of --metric is better (default: from the metric)")
    s.add_argument("--scheduler", default="none", metavar="none|asha", help="asha stops poor trials early (default none)")
    s.add_argument("--parallel", type=int, metavar="K", help="trials at a time (default: as many as the CPUs hold)")
    s.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="C", help="CPUs of each trial, and its torch threads (default 1)")
    s.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="G", help="GPUs of each trial (default 0; fractions share a GPU)")
    s.add_argument("--cpus", type=int, metavar="N", help="CPUs of the local Ray cluster (default: all of this machine's)")
    s.add_argument("--address", help="join a running Ray cluster: auto, or HOST:PORT of its head (default: RAY_ADDRESS, else a local cluster)")
    s.add_argument("--out", metavar="DIR", help="the sweep's folder (default sweeps/<plugin>-<env|data>-<time>)")
    s.add_argument("--resume", metavar="DIR", help="finish the sweep in DIR: finished trials are kept, the others resume")
    s.add_argument("--seed", type=int, default=0, help="seed of the random and Optuna searches' draws (default 0)")
    s.add_argument("--no-progress", action="store_true", help="no line per finished trial")

    import textwrap

    from sandbox.exporter import FORMAT_HELP

    s = sub.add_parser("export", help="write a trained run as a folder to share: a Hub model folder, ONNX, an SB3 zip, a diffusers pipeline",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Write the run's best checkpoint (--checkpoint latest: its latest) as a new folder, in one of these formats:\n\n"
                       + "\n".join(textwrap.fill(text, 98, break_on_hyphens=False, initial_indent=f"  {name:<10} ", subsequent_indent=" " * 13)
                                   for name, text in FORMAT_HELP.items()))
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--to", required=True, metavar="DIR", help="the new folder to write (must not exist, or be empty)")
    s.add_argument("--format", default="hub", metavar="{" + ",".join(FORMAT_HELP) + "}",
                   help="what to write (default hub; each is described above)")
    s.add_argument("--push", metavar="REPO_ID", help="then upload the folder to this Hub model repository (needs a login and a network)")
    s.add_argument("--episodes", type=int, help="agents: evaluation episodes for the card (default 10)")
    s.add_argument("--games", type=int, help="board games: evaluation games against a random player (default 20)")
    s.add_argument("--n", type=int, help="generative models: samples for the card's metrics")
    s.add_argument("--no-video", action="store_true", help="agents: record no replay.mp4 when the run has no video of that checkpoint")
    _checkpoint_flag(s, "export")

    s = sub.add_parser("gtp", help="play Go over GTP (GoGui, Sabaki, GNU Go, bot arenas) with an AlphaZero Go run",
                       description=GTP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--simulations", type=int, metavar="N", help="search simulations a move, or at most, when the controller sets a clock (default: the run's evaluation search, agent.eval_simulations)")
    s.add_argument("--symmetries", type=int, metavar="N",
                   help="average the network's priors and value over N of the board's 8 symmetries (1 to 8), in one "
                        "batch: its errors partly cancel, for up to N times the network's time a move "
                        "(default: the run's agent.eval_symmetries)")
    s.add_argument("--resign", type=float, metavar="V", help="resign when the search values the position below V, from -1 (lost) to 1 (won) (default: never)")
    s.add_argument("--sample-moves", type=int, default=0, metavar="N",
                   help="draw each of a game's first N moves (either colour's) from the search (a Gumbel search's choice under noise, "
                        "else in proportion to its visits) rather than take its best, so that a match of many games plays "
                        "different games (default 0: always the best)")
    s.add_argument("--seed", type=int, default=0, help="the seed of --sample-moves' draws (default 0)")
    s.add_argument("--play-out", action="store_true",
                   help="after the opponent's pass, play on until nothing but the engine's own eyes is left (as in self-play) "
                        "instead of passing when the board as it stands is won: for scorers that judge dead stones "
                        "(GNU Go's final_score), so that the game ends with them taken off the board")
    _checkpoint_flag(s, "play")
    s.add_argument("--quiet", action="store_true", help="no log lines on stderr (by default one a generated move)")

    s = sub.add_parser("completion", help="print a tab-completion script for bash, zsh, tcsh, fish or powershell",
                       description="Print a tab-completion script for the sandbox command: commands, flags, run folders, presets and "
                                   "plugin names. Regenerate it after installing plugins.\n\n"
                                   "  sandbox completion bash > ~/.local/share/bash-completion/completions/sandbox\n"
                                   "  sandbox completion zsh > ~/.zfunc/_sandbox     (with fpath+=~/.zfunc before compinit in ~/.zshrc)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("shell", metavar="bash|zsh|tcsh|fish|powershell", help="the shell to complete in")

    s = sub.add_parser("demo", help="a short tour: train small things and write what they make")
    s.add_argument("--out", default="runs/demo", help="folder for the demo runs (default runs/demo)")
    s.add_argument("--only", action="append", help="run only the demo presets whose name contains this")
    return p


# -- commands ---------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from sandbox.config import presets
    from sandbox.registry import list_plugins

    data = list_plugins()
    if args.json:
        print(json.dumps({**data, "presets": sorted(presets())}))
        return 0
    titles = {"agents": "Agents", "generative": "Generative models", "datasets": "Data sets", "backbones": "Backbones", "envs": "Envs"}
    for key, title in titles.items():
        print(f"{title}:")
        entries = data[key]
        if not entries:
            print("  (none registered)")
        width = max((len(e["name"]) for e in entries), default=0)
        for e in entries:
            print(f"  {e['name'].ljust(width)}  {e['description']}")
        print()
    print("Presets (sandbox train NAME):")
    found = presets()
    print("  " + (", ".join(sorted(found)) if found else "(none)"))
    print("\nEnvs also include every Gymnasium id (CartPole-v1, ALE/Pong-v5, ...).")
    return 0


def _print_fields(title: str, config_cls: Any, prefix: str, values: dict[str, Any] | None = None) -> None:
    """The fields of a config class, a line each: name, type, default and help. ``values``: what this
    command would set them to (a preset's, the tuned values', the overrides'), shown in place of the
    default where they differ, the default beside it."""
    from sandbox.config import describe

    print(title)
    rows = describe(config_cls)
    if config_cls is dict:
        print(f"  takes any keyword its constructor takes ({prefix}.KEY=VALUE)")
        return
    if not rows:
        print("  (no fields)")
        return
    _print_rows(_with_values(rows, _shown_values(config_cls, values or {})), prefix)


def _shown_values(config_cls: Any, values: dict[str, Any]) -> dict[str, str]:
    """``values`` of the fields of ``config_cls`` written as --help writes defaults (a value that
    does not parse is shown as given: training will say what is wrong with it)."""
    from sandbox.config import coerce, fields_of, to_dict
    from sandbox.errors import ConfigError

    fields = fields_of(config_cls)
    shown: dict[str, str] = {}
    for name, value in values.items():
        if name not in fields:
            continue
        try:
            value = coerce(value, fields[name][0], name)
        except ConfigError:
            pass
        shown[name] = repr(value) if isinstance(value, str) else str(to_dict(value))
    return shown


def _with_values(rows: list[tuple[str, str, str, str]], chosen: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """--help rows with the chosen value in the default's column, the default beside it, where they differ."""
    return [(name, tp, f"{chosen[name]} (default {default})" if chosen.get(name, default) != default else default, help_)
            for name, tp, default, help_ in rows]


def _print_rows(rows: list[tuple[str, str, str, str]], prefix: str = "") -> list[int]:
    """--help rows (key, type, value, help) in aligned columns; returns the columns' widths."""
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for name, tp, default, help_ in rows:
        print(f"  {prefix}{name.ljust(w[0])}  {tp.ljust(w[1])}  {default.ljust(w[2])}  {help_}")
    return w


def train_help(argv: list[str]) -> int:
    from sandbox import tuned
    from sandbox.config import RunConfig, WandbConfig, plugin_config_class, raw_config
    from sandbox.registry import REGISTRIES

    print(TRAIN_HELP)
    raw = raw_config(argv[0] if argv and "=" not in argv[0] else None, [a for a in argv if "=" in a])
    resolved, info = tuned.apply(raw)  # what the command would run with: the preset's, the tuned values and the overrides
    shown = False
    for section, kind in (("agent", "agent"), ("model", "generative"), ("data", "dataset"), ("backbone", "backbone"), ("env", "env")):
        if isinstance(resolved.get(section), dict) and "name" in resolved[section]:
            name = resolved[section]["name"]
            entry = REGISTRIES[kind].get(name)
            _print_fields(f"{section}={name}: {entry.description}\n  fields ({section}.FIELD=VALUE):", plugin_config_class(section, name),
                          f"{section}.", resolved[section])
            print()
            shown = True
    if not shown:
        print("Plugin fields: add agent=NAME, model=NAME, data=NAME, backbone=NAME or env=NAME before --help.\n")
    _print_tuned(raw, resolved, info)
    from sandbox.config import SECTIONS, describe

    print("Run keys (KEY=VALUE):")
    rows = [r for r in describe(RunConfig) if r[0] not in SECTIONS and r[0] != "wandb"]
    w = _print_rows(_with_values(rows, _shown_values(RunConfig, {k: v for k, v in resolved.items() if k not in SECTIONS and k != "wandb"})))
    for section in ("agent", "model", "env", "data", "backbone"):
        print(f"  {section.ljust(w[0])}  {'plugin name'.ljust(w[1])}  {''.ljust(w[2])}  select the {section} (then {section}.FIELD=VALUE)")
    _print_fields("W&B keys:", WandbConfig, "wandb.", resolved.get("wandb") if isinstance(resolved.get("wandb"), dict) else None)
    return 0


def _print_tuned(raw: dict[str, Any], with_values: dict[str, Any], info: Tuned | None) -> None:
    """What the tuned values of the pair set (``tuned.apply(raw)``), as the key=value lines that would set them."""
    if info is None:
        return
    print(info.line())
    if info.found:
        def flat(prefix: str, value: Any) -> list[str]:
            if isinstance(value, dict):
                return [line for k, v in value.items() for line in flat(f"{prefix}.{k}" if prefix else str(k), v)]
            shown = "[" + ",".join(str(v) for v in value) + "]" if isinstance(value, list) else value
            return [f"{prefix}={shown}"]

        given = set(flat("", raw))
        lines = [x for x in flat("", {k: v for k, v in with_values.items() if k not in ("out",)}) if x not in given and not x.endswith(".name=" + info.plugin)]
        print("  " + "\n  ".join(lines))
    print()


def cmd_train(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        return train_help([a for a in argv if a not in ("-h", "--help")])
    progress = False if "--no-progress" in argv else None  # None: a bar on a terminal, a line a minute into a log
    argv = [a for a in argv if a != "--no-progress"]
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        raise SandboxError(f"unknown option {flags[0]} for train; settings are key=value (see 'sandbox train --help').")
    source = argv[0] if argv and "=" not in argv[0] else None
    overrides = argv[1:] if source is not None else argv
    if source is not None and len([a for a in argv if "=" not in a]) > 1:
        extra = [a for a in argv[1:] if "=" not in a][0]
        raise SandboxError(f"{extra!r} is neither a key=value override nor the first argument; give one preset or YAML file, then key=value pairs.")
    from sandbox.run import train

    run = train(source, overrides, progress=progress)
    if not run.main:  # one of several processes under 'accelerate launch': the main one reports
        return 130 if run.stop_reason == "interrupted" else 0
    reason = {"time": "the time budget (max_minutes) is spent", "interrupted": "interrupted", "steps": "the step budget is spent"}
    print(f"run: {run.dir}  (step {run.step}; stopped because {reason.get(run.stop_reason or 'steps', 'it finished')})")
    from sandbox.tracking import wandb_sync_line

    if (line := wandb_sync_line(run.dir)) is not None:
        print(line)
    if run.stop_reason == "interrupted":
        return 130
    return 0


def _checkpoint_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--checkpoint best|latest``: which of a run's checkpoints ``what`` uses."""
    parser.add_argument("--checkpoint", choices=["best", "latest"],
                        help=f"the run's checkpoint to {what}: best (by its score, the default; latest when it has none) or latest")


def _no_checkpoint_flag(args: argparse.Namespace, target: str, what: str) -> None:
    if args.checkpoint is not None:
        raise SandboxError(f"--checkpoint is for a run folder made by 'sandbox train'; {target} is {what}, which has no checkpoints to choose from.")


def _load(run_dir: str, kind: str | None = None, data: str | None = None, which: str | None = None) -> Any:
    """The plugin of a run folder (its ``which`` checkpoint: best by default), of a folder 'sandbox
    export' wrote, or of a diffusers pipeline folder; one sentence when it is none of them."""
    from sandbox.run import is_exported, load

    pipeline = Path(run_dir).is_dir() and (Path(run_dir) / "model_index.json").exists() and not (Path(run_dir) / "config.yaml").exists()
    if which is not None and (pipeline or (Path(run_dir).is_dir() and is_exported(run_dir))):
        raise SandboxError(f"--checkpoint is for a run folder made by 'sandbox train'; {run_dir} is an exported folder with one set of weights.")
    if pipeline:
        from sandbox.registry import generative  # a diffusers pipeline folder, read as JSON and safetensors

        load_pipeline = generative.provided("ddpm", "load_pipeline")
        if load_pipeline is None:
            raise SandboxError("sampling a diffusers pipeline folder needs the sandbox's generative plugins, which are not installed.")
        if kind == "agent":
            raise SandboxError(f"{run_dir} is a diffusers pipeline folder, a generative model; use 'sandbox sample' or 'sandbox eval'.")
        return load_pipeline(run_dir, data=data)
    if data is not None:
        raise SandboxError(f"--data is for a diffusers pipeline folder; {run_dir} evaluates on its own data set.")
    plugin = load(run_dir, which or "best")
    if kind is not None:
        from sandbox.plugin import Agent, GenerativeModel

        want = Agent if kind == "agent" else GenerativeModel
        if not isinstance(plugin, want):
            other = "generative model" if kind == "agent" else "agent"
            article = "an" if other == "agent" else "a"
            raise SandboxError(f"{run_dir} is {article} {other} run, not a{'n agent' if kind == 'agent' else ' generative model'} run; "
                               + ("use 'sandbox sample' for generative models." if kind == "agent" else "use 'sandbox play' or 'sandbox eval' for agents."))
    return plugin


def _eval_zip(args: argparse.Namespace) -> int:
    """``sandbox eval PATH.zip [--env ID] [--episodes N]``: a stable-baselines3 zip, read without unpickling."""
    from sandbox.registry import agents

    for flag in ("games", "opponent", "n", "sampler", "steps"):
        if getattr(args, flag) is not None:
            raise SandboxError(f"--{flag} does not apply to a stable-baselines3 zip; it takes --env and --episodes.")
    if args.episodes is not None and args.episodes <= 0:
        raise SandboxError(f"--episodes must be a positive number, not {args.episodes}.")
    eval_zip = agents.provided("ppo", "eval_zip")
    if eval_zip is None:
        raise SandboxError("evaluating a stable-baselines3 zip needs the sandbox's agents plugins, which are not installed.")
    print_result(eval_zip(Path(args.run_dir), args.env, episodes=args.episodes or 10), args.json)
    return 0


def print_result(result: dict[str, Any], as_json: bool) -> None:
    """An evaluation's result: one JSON object with ``--json``, else a ``name: value`` line each."""
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")


def cmd_eval(args: argparse.Namespace) -> int:
    target = Path(args.run_dir)
    if args.wandb and not (target / "config.yaml").is_file():
        raise SandboxError(f"--wandb logs the evaluation of a run that 'sandbox train' made, beside its own W&B run; {args.run_dir} is not one.")
    if target.suffix.lower() == ".zip" and target.is_file():  # a stable-baselines3 zip, read without unpickling
        _no_checkpoint_flag(args, args.run_dir, "a stable-baselines3 zip")
        return _eval_zip(args)
    if args.env is not None:
        raise SandboxError(f"--env is for a stable-baselines3 zip (sandbox eval PATH.zip --env ID); {args.run_dir} evaluates on its own env.")
    model_flags = ("n", "draws", "sampler", "steps")
    options = {k: v for k in ("episodes", "games", "opponent", *model_flags) if (v := getattr(args, k)) is not None}
    for k in ("episodes", "games", "n", "draws", "steps"):  # before the run is loaded: a wrong number answers at once
        if k in options and options[k] <= 0:
            raise SandboxError(f"--{k} must be a positive number, not {options[k]}.")
    plugin = _load(args.run_dir, data=args.data, which=args.checkpoint)
    from sandbox.plugin import GenerativeModel

    is_model = isinstance(plugin, GenerativeModel)
    for flag in options:
        if (flag in model_flags) != is_model:
            kind = "generative models" if flag in model_flags else "agents"
            raise SandboxError(f"--{flag} is for {kind}, and {args.run_dir} is {'a generative model' if is_model else 'an agent'} run.")
    if "draws" in options and not getattr(plugin, "evaluates_draws", False):
        raise SandboxError(f"--draws is for the sandbox's own generative models; {type(plugin).__name__} measures one draw.")
    if not is_model:  # board games take --games and --opponent, the other envs --episodes
        board = hasattr(plugin, "game")
        for flag in ("opponent", "games") if not board else ("episodes",):
            if flag in options:
                raise SandboxError(f"--{flag} is for {'single-player envs' if board else 'board games'}, and {args.run_dir} plays "
                                   f"{'a board game' if board else 'a single-player env'}; give {'--games N' if board else '--episodes N'}.")
    if is_model and "n" in options:
        if options["n"] < 2:
            raise SandboxError(f"--n {options['n']} cannot be measured: FID and the other metrics compare the spread of the samples, "
                               "which takes at least 2; give --n 2 or more.")
        if hasattr(plugin, "check_fits"):  # the sandbox's own models: refuse an --n that cannot fit, before sampling
            plugin.check_fits(options["n"])
    if args.no_progress and is_model:
        plugin.progress = False  # read by the sandbox's own models; harmless on others
    result = plugin.evaluate(**options)
    print_result(result, args.json)
    if args.wandb:
        from sandbox.run import read_pointer
        from sandbox.tracking import logged_in_to_wandb
        from sandbox.wandb_worker import log_evaluation

        pointer = (read_pointer(Path(args.run_dir), "best") if args.checkpoint != "latest" else None) \
            or read_pointer(Path(args.run_dir), "latest")  # what sandbox.load read
        step = pointer.get("step") if pointer else None
        try:
            wanted = plugin.config.wandb.mode  # offline unless the run's mode says online (auto: online with a login)
            mode = "online" if wanted == "online" or (wanted == "auto" and logged_in_to_wandb()) else "offline"
            print(log_evaluation(args.run_dir, plugin.config, result, options, step if isinstance(step, int) else None, mode),
                  file=sys.stderr)
        except Exception as exc:  # W&B is an extra: the evaluation is printed already
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            print(f"warning: W&B logging of the evaluation failed ({why}); the result above stands.", file=sys.stderr)
    return 0


def play_summary(result: dict[str, Any]) -> str:
    """One line about what was played: scores (agents), wins and draws (board games), the file written."""
    import numpy as np

    parts = []
    if "scores" in result:
        scores = result["scores"]
        if scores:
            parts.append(f"played {len(scores)} episode{'s' * (len(scores) != 1)}: score " + ", ".join(f"{s:g}" for s in scores))
        if len(scores) > 1:
            parts.append(f"mean {float(np.mean(scores)):.2f}")
        if "unfinished_score" in result:
            parts.append(f"stopped during episode {len(scores) + 1} at score {result['unfinished_score']:+g}")
        elif not scores:
            parts.append("stopped before the first episode began")
    elif "games" in result:
        counts = {k: v for k, v in result.items() if k not in ("games", "record") and isinstance(v, int)}
        parts.append(f"played {result['games']} game{'s' * (result['games'] != 1)}: "
                     + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    if result.get("record"):
        parts.append(f"recorded to {result['record']}")
    return "; ".join(parts) if parts else json.dumps(result)


def cmd_play(args: argparse.Namespace) -> int:
    from sandbox.files import is_run_dir

    if args.episodes <= 0:
        raise SandboxError(f"--episodes must be a positive number, not {args.episodes}.")
    record = Path(args.record) if args.record else None
    if record is not None and record.suffix.lower() not in (".mp4", ".gif"):
        raise SandboxError(f"--record {record} must end in .mp4 or .gif.")
    if record is not None:
        from sandbox.files import check_output_file

        check_output_file(record, "--record", ".mp4")
    target = Path(args.target)
    if target.suffix.lower() == ".zip" and target.is_file():  # a stable-baselines3 zip, read without unpickling
        _no_checkpoint_flag(args, args.target, "a stable-baselines3 zip")
        from sandbox.registry import agents

        play_zip = agents.provided("ppo", "play_zip")
        if play_zip is None:
            raise SandboxError("playing a stable-baselines3 zip needs the sandbox's agents plugins, which are not installed.")
        result = play_zip(target, args.env, episodes=args.episodes, record=record)
        print(json.dumps(result) if args.json else play_summary(result))
        return 0
    if is_run_dir(target):
        plugin = _load(args.target, "agent", which=args.checkpoint)
        result = plugin.play(episodes=args.episodes, record=record, human=args.human)
        if result:
            print(json.dumps(result) if args.json else play_summary(result))
        return 0
    from sandbox.registry import envs

    if target.exists():
        from sandbox.files import check_run_dir

        check_run_dir(target)  # says why this folder is not a run
    if envs.find(args.target) is None:
        from sandbox.registry import did_you_mean

        hint = did_you_mean(args.target, envs.names() + ["CartPole-v1", "ALE/Pong-v5"])
        if not hint.startswith("did you mean"):  # no close name: say what an env id looks like rather than count names
            hint = "any Gymnasium id plays, e.g. CartPole-v1 or ALE/Pong-v5 ('sandbox list' shows the sandbox's own envs)."
        raise SandboxError(f"{args.target} is neither a run directory nor an env id; give a folder made by 'sandbox train', "
                           f"or an env to play with --human: {hint}")
    if not args.human:
        raise SandboxError(f"{args.target!r} is an env, not a run directory; to play it yourself add --human (sandbox play {args.target} --human).")
    _no_checkpoint_flag(args, args.target, "an env")
    factory = envs.get(args.target).load()
    human = envs.provided(args.target, "play_human") or getattr(factory, "play_human", None)
    if human is None:
        raise SandboxError(f"the env {args.target} has no human play yet; try ALE/Pong-v5 or a board game such as tictactoe.")
    result = human(args.target, episodes=args.episodes, record=record)
    if isinstance(result, dict) and result:
        print(json.dumps(result) if args.json else play_summary(result))
    return 0


def _grid_bytes_per_image(shape: tuple[int, ...]) -> int:
    """About how many bytes each C×H×W image adds while ``tracking.image_grid`` tiles it: its uint8
    copies (upscaled ×s, s = 64 // max(H, W), as image_grid does) and its tile in the picture."""
    _, h, w = shape
    s = max(1, 64 // max(h, w))
    return h * w * 3 * (2 + s + s * s) + (s * h + 2) * (s * w + 2) * 3


def cmd_sample(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise SandboxError(f"--out {out} must end in .png (a grid) or .npz (the raw samples).")
    if args.n <= 0:
        raise SandboxError(f"--n must be a positive number of samples, not {args.n}.")
    if args.steps is not None and args.steps <= 0:
        raise SandboxError(f"--steps must be a positive number, not {args.steps}.")
    if not 0 <= args.seed < 2**32:
        raise SandboxError(f"--seed {args.seed} is out of range; seeds are whole numbers from 0 to {2**32 - 1}.")
    from sandbox.files import check_output_file, writing

    check_output_file(out, "--out", ".png")
    plugin = _load(args.run_dir, "generative", which=args.checkpoint)
    options = {k: v for k in ("sampler", "steps", "label") if (v := getattr(args, k)) is not None}
    import numpy as np

    if hasattr(plugin, "check_fits"):  # the sandbox's own models: refuse an --n that cannot fit, before sampling
        shape = tuple(plugin.data.shape)
        picture = _grid_bytes_per_image(shape) if out.suffix.lower() == ".png" and len(shape) == 3 else 0
        plugin.check_fits(args.n, picture)
    if args.no_progress:
        plugin.progress = False  # read by the sandbox's own models; harmless on others
    samples = plugin.sample(args.n, seed=args.seed, **options)
    arr = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".npz":
            tmp = out.with_name(f".tmp-{out.name}")
            try:
                with open(tmp, "wb") as fh:
                    np.savez(fh, samples=arr.astype(np.float32, copy=False))
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
        elif arr.ndim == 2:  # points (the 2-D toy sets): a scatter plot over the held-out data
            from sandbox.tracking import scatter_picture, write_png

            data = plugin.data.x_test.numpy() if getattr(plugin, "data", None) is not None else arr[:0]
            write_png(out, scatter_picture(data if len(data) else arr, arr, f"{args.n} samples of {Path(args.run_dir).name}"))
        else:
            from sandbox.tracking import image_grid, write_png

            write_png(out, image_grid(arr))
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sandbox.compare import compare, format_table
    from sandbox.files import check_output_file, writing
    from sandbox.sweep import SWEEP_FILE, compare_groups

    check_output_file(args.out, "--out", ".png")

    dirs: list[Path] = []
    groups: dict[Path, str | None] = {}
    for d in map(Path, args.run_dirs):
        if (d / SWEEP_FILE).is_file():  # a sweep: its trials, a line per varied value and a band over seeds
            trials, labels = compare_groups(d)
            dirs += trials
            groups.update(labels)
        else:
            dirs.append(d)
    with writing(args.out, "--out"):
        rows = compare(dirs, args.out, args.metric, args.smooth, groups=groups or None)
    print(format_table(rows))
    print(f"wrote {args.out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from sandbox import sweep

    if args.resume is not None:
        given = [f"--{k.replace('_', '-')}" for k in ("trials", "search", "metric", "mode", "parallel", "out")
                 if getattr(args, k) is not None] + (["key=value words"] if args.words else [])
        given += [f for f, v, d in (("--scheduler", args.scheduler, "none"), ("--cpus-per-trial", args.cpus_per_trial, 1.0),
                                    ("--gpus-per-trial", args.gpus_per_trial, 0.0), ("--seed", args.seed, 0)) if v != d]
        if given:
            raise SandboxError(f"--resume finishes a sweep with its own settings, so {given[0]} does not apply; drop it "
                               "(only --address, --cpus and --no-progress may be given).")
        spec, _ = sweep.read_sweep(args.resume)
        folder = Path(args.resume)
    else:
        words = list(args.words)
        source = words.pop(0) if words and "=" not in words[0] else None
        extra = [w for w in words if "=" not in w]
        if extra:
            raise SandboxError(f"{extra[0]!r} is neither a key=value setting nor the first argument; give one preset or YAML file, then key=value words.")
        if args.out is None:
            from sandbox.config import raw_config

            raw = raw_config(source, [w for w in words if "," not in w.partition("=")[2] and ":" not in w.partition("=")[2]])
            what = [str((raw.get(k) or {}).get("name", "")).replace("/", "-") for k in ("agent", "model", "env", "data")]
            folder = Path("sweeps") / "-".join([w for w in what if w] + [time.strftime("%Y%m%d-%H%M%S")])
        else:
            folder = Path(args.out)
        spec = sweep.new_spec(folder, source, words, search=args.search, trials=args.trials, metric=args.metric, mode=args.mode,
                              scheduler=args.scheduler, parallel=args.parallel, cpus_per_trial=args.cpus_per_trial,
                              gpus_per_trial=args.gpus_per_trial, cpus=args.cpus, seed=args.seed)
    return sweep.run_sweep(folder, spec, address=args.address, cpus=args.cpus, progress=not args.no_progress)


def cmd_export(args: argparse.Namespace) -> int:
    from sandbox.exporter import export
    from sandbox.files import check_output_folder

    check_output_folder(args.to, "--to")
    out = export(args.run_dir, args.to, format=args.format, push=args.push, episodes=args.episodes, games=args.games, n=args.n,
                 video=not args.no_video, which=args.checkpoint or "best")
    print(f"exported {args.run_dir} to {out}" + (f" and pushed it to {args.push}" if args.push else ""))
    for path in sorted(out.iterdir()):
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        print(f"  {path.name + ('/' if path.is_dir() else ''):<34} {_size(size)}")
    return 0


def _size(n: int) -> str:
    """A file size as people read it (1000-based, as du --si and file browsers)."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f} GB"


def cmd_gtp(args: argparse.Namespace) -> int:
    from sandbox.registry import agents

    serve = agents.provided("alphazero", "gtp")
    if serve is None:
        raise SandboxError("sandbox gtp needs the sandbox's AlphaZero agent (the agents plugins), which is not installed.")
    return serve(args.run_dir, simulations=args.simulations, quiet=args.quiet, resign=args.resign, checkpoint=args.checkpoint or "best",
                 sample_moves=args.sample_moves, seed=args.seed, symmetries=args.symmetries, play_out=args.play_out)


def cmd_completion(args: argparse.Namespace) -> int:
    """The parser of the sandbox command as a shtab completion script: run folders complete as
    folders, files as files, and train's and sweep's words as presets, plugin names and keys."""
    import shtab

    from sandbox.config import SECTIONS, TOP_KEYS, presets
    from sandbox.registry import list_plugins

    if args.shell not in shtab.SUPPORTED_SHELLS:
        raise SandboxError(f"no completion for the shell {args.shell!r}; use one of {', '.join(shtab.SUPPORTED_SHELLS)}.")
    parser = _parser()
    plugins = list_plugins()
    kinds = {"agent": "agents", "model": "generative", "env": "envs", "data": "datasets", "backbone": "backbones"}
    words = sorted(presets()) + [f"{section}={e['name']}" for section in SECTIONS for e in plugins[kinds[section]]]
    words += [f"{k}=" for k in TOP_KEYS if k not in SECTIONS] + ["wandb.mode=", "wandb.project=", "wandb.group="]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices  # noqa: SLF001
    commands["train"].add_argument("words", nargs="*", choices=words)
    from sandbox.exporter import FORMATS
    from sandbox.sweep import SCHEDULERS, SEARCHES

    value_words = {"format": list(FORMATS), "search": list(SEARCHES), "scheduler": list(SCHEDULERS), "mode": ["max", "min"],
                   "sampler": ["ddpm", "ddim", "dpm", "euler", "heun"]}
    for name, sub in commands.items():
        for action in sub._actions:  # noqa: SLF001
            if action.dest in ("run_dir", "run_dirs", "target", "resume", "to") or (action.dest == "out" and name in ("sweep", "demo")):
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
            elif action.dest in ("out", "record"):
                action.complete = shtab.FILE  # type: ignore[attr-defined]
            elif action.dest == "words":
                action.choices = words
            elif action.dest in value_words and action.choices is None:  # flags whose values are a few words
                action.choices = value_words[action.dest]
    print(shtab.complete(parser, shell=args.shell))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sandbox.demo import run_demo

    return run_demo(Path(args.out), args.only)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        parser = _parser()
        if not argv:
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        handlers = {"list": cmd_list, "eval": cmd_eval, "play": cmd_play, "sample": cmd_sample,
                    "compare": cmd_compare, "export": cmd_export, "demo": cmd_demo, "sweep": cmd_sweep, "completion": cmd_completion,
                    "gtp": cmd_gtp}
        return handlers[args.command](args)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
