"""``sandbox demo``: train every ``demo-*`` preset the installed plugins ship (each small enough
for a laptop CPU), then write what each makes (a recorded game, a sample grid) and each run's learning curves."""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.errors import SandboxError


#: a step budget at least this large means "no step budget": the preset trains for its max_minutes
UNBOUNDED_STEPS = 10**8


def cut_short(run) -> str | None:
    """A note when a demo run meant to spend its step budget was stopped by its ``max_minutes``
    guard well before (a busy machine): its pictures then show a model that learned little."""
    steps, minutes = run.config.steps, run.config.max_minutes
    if run.stop_reason != "time" or steps >= UNBOUNDED_STEPS or run.step >= 0.9 * steps:
        return None
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"note: {run.dir.name} stopped at step {run.step:,} of {steps:,} when its max_minutes ({minutes:g}) ran out "
            f"(load average {load:.1f} on {os.cpu_count()} cores: other work shares this machine), so its pictures show a model "
            f"that learned little; run 'sandbox demo --only {run.dir.name.removeprefix('demo-')}' again when the machine is quieter.")


def run_demo(out: Path, only: list[str] | None = None) -> int:
    from sandbox.config import presets
    from sandbox.registry import list_plugins
    from sandbox.run import train
    from sandbox.tracking import wandb_sync_line

    found = {name: path for name, path in sorted(presets().items()) if name.startswith("demo-")}
    if only:
        found = {n: p for n, p in found.items() if any(o in n for o in only)}
        if not found:
            raise SandboxError(f"no demo preset matches {', '.join(only)}; the demo presets are {', '.join(sorted(presets()))}.")
    plugins = list_plugins()
    print("sandbox demo: what is installed")
    for kind, entries in plugins.items():
        print(f"  {kind}: {', '.join(e['name'] for e in entries) or '(none)'}")
    if not found:
        print("\nNo plugin ships a demo preset yet; try 'sandbox list' and 'sandbox train --help'.")
        return 0
    made: list[Path] = []
    runs = []
    for i, (name, _) in enumerate(found.items(), 1):
        print(f"\n[{i}/{len(found)}] training {name} ...", file=sys.stderr)
        run_dir = out / name
        run = train(name, [f"out={run_dir}"], progress=None)  # a bar on a terminal, lines into a log
        runs.append(run.dir)
        if (line := wandb_sync_line(run.dir)) is not None:
            print(f"  {line}")
        short = cut_short(run)
        if short:
            print(f"  {short}")
        from sandbox.run import load

        plugin = load(run.dir)
        media = plugin.demo_media(run)
        made.extend(media)
        for m in media:
            print(f"  wrote {m}" + ("  (cut short: see the note above)" if short else ""))
    from sandbox.compare import compare

    for run_dir in runs:  # each run's own curves: agents and models log different things
        curves = run_dir / "media" / "curves.png"
        try:
            compare([run_dir], curves)
            made.append(curves)
        except SandboxError as exc:
            print(f"  (no curves for {run_dir.name}: {exc})", file=sys.stderr)
    print("\nLook at:")
    for m in made:
        print(f"  {m}")
    return 0
