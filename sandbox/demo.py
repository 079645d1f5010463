"""``sandbox demo``: train every ``demo-*`` preset the installed plugins ship (each small enough
for a laptop CPU), then write what each makes (a recorded game, a sample grid) and each run's learning curves."""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.errors import SandboxError


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
        run = train(name, [f"out={run_dir}"])
        runs.append(run.dir)
        if (line := wandb_sync_line(run.dir)) is not None:
            print(f"  {line}")
        from sandbox.run import load

        plugin = load(run.dir)
        media = plugin.demo_media(run)
        made.extend(media)
        for m in media:
            print(f"  wrote {m}")
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
