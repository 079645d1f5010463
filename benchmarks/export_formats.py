"""Every export format, round-tripped and weighed: short runs of the presets (PPO on CartPole, DQN on
Pong's frames, AlphaZero on Connect Four, DDPM (UNet and DiT), flow matching, GAN and VAE on digits) exported with
``sandbox export --format hub|onnx|sb3|diffusers`` and read back by what each format is for:

- hub: the folder loaded by ``sandbox.load`` acts (100 observations) or samples (16 images, seed 0)
  as the run does;
- onnx: onnxruntime's greedy actions against the agent's own ``act`` (100 observations), and the
  largest difference the export measured between onnxruntime and torch (``policy.json``);
- sb3: the zip loaded by plain stable-baselines3 (``PPO.load`` / ``DQN.load``) in another process,
  its ``predict`` against the agent's ``act``;
- diffusers: ``DDPMPipeline.from_pretrained`` samples against the sandbox's DDPM (or, for flow
  matching, Euler) sampler, same seed and steps.

Sizes are the bytes of each exported folder. The figures do not depend on the machine's load.

    python benchmarks/export_formats.py [--out benchmarks/results/export_formats.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402

QUIET = ["wandb.mode=disabled", "max_minutes=null", "seed=1"]
#: name -> (preset and the overrides that make it short, the formats it exports to)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "ppo-cartpole": (["ppo-cartpole", "steps=4096", "agent.eval_every=2048", "agent.eval_video=false"], ["hub", "onnx", "sb3"]),
    "dqn-pong": (["dqn-pong", "steps=1500", "agent.buffer_size=2000", "agent.learning_starts=500", "agent.eval_every=100000",
                  "agent.eval_episodes=1", "agent.eval_video=false"], ["hub", "onnx", "sb3"]),
    "alphazero-connect4": (["alphazero-connect4", "steps=400", "agent.actors=0", "agent.games=16", "agent.simulations=16", "agent.min_buffer=64",
                            "agent.eval_every=100000", "agent.eval_games=2", "agent.eval_simulations=16"], ["hub", "onnx"]),
    "ddpm-digits": (["ddpm-digits", "model.conditional=no", "steps=200", "model.eval_every=0", "model.sample_every=0", "model.eval_n=64"], ["hub", "diffusers"]),
    "flow-digits": (["flow-digits", "model.conditional=no", "steps=200", "model.eval_every=0", "model.sample_every=0", "model.eval_n=64"], ["hub", "diffusers"]),
    "ddpm-dit-digits": (["ddpm-dit-digits", "model.conditional=no", "steps=200", "model.eval_every=0", "model.sample_every=0",
                         "model.eval_n=64"], ["hub", "diffusers"]),
    "gan-digits": (["gan-digits", "steps=200", "model.eval_every=0", "model.sample_every=0", "model.eval_n=64"], ["hub"]),
    "vae-digits": (["vae-digits", "steps=200", "model.eval_every=0", "model.sample_every=0", "model.eval_n=64"], ["hub"]),
}

#: a fresh interpreter that loads zips with plain stable-baselines3 and writes their greedy actions
SB3_PREDICT = """
import json, sys
import numpy as np
import stable_baselines3
algo, path, obs, out = sys.argv[1:5]
model = getattr(stable_baselines3, algo).load(path, device="cpu")
np.save(out, model.predict(np.load(obs), deterministic=True)[0])
"""


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def actions_of(agent: Any, obs: Any) -> np.ndarray:
    if isinstance(obs, list):  # board positions: one act() per position, with its mask
        return np.array([agent.act(o["observation"], action_mask=o["action_mask"]) for o in obs])
    return np.asarray(agent.act(obs))


def check_hub(run_dir: Path, folder: Path, agent: Any, obs: Any) -> str:
    loaded = sandbox.load(folder)
    if obs is None:
        import torch

        a, b = agent.sample(16, seed=0), loaded.sample(16, seed=0)
        return f"16 samples, max |diff| {float(torch.as_tensor(a - b).abs().max()):.2g}"
    same = int((actions_of(agent, obs) == actions_of(loaded, obs)).sum())
    return f"{same}/{len(obs)} actions identical"


def check_onnx(folder: Path, agent: Any, obs: Any) -> str:
    import onnxruntime

    info = json.loads((folder / "policy.json").read_text())
    session = onnxruntime.InferenceSession(str(folder / "policy.onnx"), providers=["CPUExecutionProvider"])
    diff = info.get("check", {}).get("max_abs_difference")
    if isinstance(obs, list):
        x = np.stack([o["observation"] for o in obs])
        masks = np.stack([o["action_mask"] for o in obs]).astype(bool)
        logits = session.run(None, {"observation": x})[0]
        legal = all(masks[i, a] for i, a in enumerate(np.where(masks, logits, -np.inf).argmax(1)))
        return f"policy+value for {len(obs)} positions, greedy prior legal: {legal}; torch vs onnxruntime max |diff| {diff:.2g}"
    greedy = session.run(None, {"observation": obs})[0].argmax(1)
    same = int((greedy == actions_of(agent, obs)).sum())
    return f"{same}/{len(obs)} greedy actions identical; torch vs onnxruntime max |diff| {diff:.2g}"


def check_sb3(folder: Path, agent: Any, obs: np.ndarray, work: Path) -> str:
    (zip_path,) = folder.glob("*.zip")
    np.save(work / "obs.npy", obs)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SANDBOX_PLUGINS")}
    r = subprocess.run([sys.executable, "-c", SB3_PREDICT, agent.config.plugin.name.upper(), str(zip_path), str(work / "obs.npy"),
                        str(work / "actions.npy")], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return f"failed: {r.stderr.strip().splitlines()[-1:]}"
    same = int((np.load(work / "actions.npy") == actions_of(agent, obs)).sum())
    return f"{same}/{len(obs)} actions identical ({agent.config.plugin.name.upper()}.load in another process)"


def check_diffusers(folder: Path, model: Any) -> str:
    import torch
    from diffusers import DDPMPipeline

    if (folder / "transformer").is_dir():  # a DiT: diffusers' SD3Transformer2DModel against the run's own network
        from diffusers import SD3Transformer2DModel

        net = SD3Transformer2DModel.from_pretrained(str(folder), subfolder="transformer").eval()
        c, h, w = model.data.shape
        x, t = torch.randn(64, c, h, w, generator=torch.Generator().manual_seed(0)), torch.linspace(0, 999, 64)
        with torch.no_grad():
            theirs = net(x, encoder_hidden_states=torch.zeros(64, 0, 1), pooled_projections=torch.zeros(64, 1), timestep=t).sample
            ours = model.denoise_fn().eval()(x, t, None)
        return f"SD3Transformer2DModel vs the run's DiT, 64 inputs, max |diff| {float((theirs - ours).abs().max()):.2g}"

    pipe = DDPMPipeline.from_pretrained(str(folder))
    theirs = pipe(batch_size=4, num_inference_steps=10, generator=torch.Generator().manual_seed(5), output_type="pt").images
    if getattr(model, "conditional", False):  # the pipeline samples the unconditional model the run learned too
        return f"DDPMPipeline samples {tuple(theirs.shape)} (the 'no label' class), finite: {bool(torch.isfinite(theirs).all())}"
    sampler = "euler" if model.config.plugin.name == "flow" else "ddpm"
    ours = model.sample(4, seed=5, sampler=sampler, steps=10)
    return f"DDPMPipeline vs sandbox sample --sampler {sampler}, 4 samples, max |diff| {float((theirs - ours).abs().max()):.2g}"


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=Path("benchmarks/results/export_formats.json"), help="the JSON written")
    ap.add_argument("--only", default="", help="comma-separated run names (default: all of " + ", ".join(RUNS) + ")")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp)
        for name in names:
            overrides, formats = RUNS[name]
            print(f"training {name} ...", flush=True)
            run = sandbox.train(overrides[0], [*overrides[1:], *QUIET, f"out={root / name}"], progress=False)
            policy = sandbox.load(run.dir)
            obs = policy.sample_observations(100) if run.config.kind == "agent" else None
            for fmt in formats:
                target = root / f"{name}-{fmt}"
                t = time.time()
                options = {"episodes": 1} if fmt == "hub" and run.config.kind == "agent" else {}
                folder = sandbox.export(run.dir, target, format=fmt, **options)
                seconds = time.time() - t
                work = root / f"{name}-{fmt}-check"
                work.mkdir()
                if fmt == "hub":
                    result = check_hub(run.dir, folder, policy, obs)
                elif fmt == "onnx":
                    result = check_onnx(folder, policy, obs)
                elif fmt == "sb3":
                    result = check_sb3(folder, policy, obs, work)
                else:
                    result = check_diffusers(folder, policy)
                files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
                rows.append({"run": name, "format": fmt, "bytes": folder_bytes(folder), "files": files,
                             "export_seconds": round(seconds, 1), "round_trip": result})
                print(f"  {fmt:<10}{folder_bytes(folder) / 1e6:>9.2f} MB  {result}", flush=True)
    doc = {"benchmark": "export-formats", "seconds": round(time.time() - t0, 1), "load_avg": os.getloadavg(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"\n{'run':<20}{'format':<11}{'size':>10}  round trip")
    for r in rows:
        print(f"{r['run']:<20}{r['format']:<11}{r['bytes'] / 1e6:>8.2f}MB  {r['round_trip']}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
