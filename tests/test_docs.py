"""Docs that cannot rot: the site builds with ``mkdocs build --strict``, the generated reference names
every registered plugin and every field of its config, the benchmark page every result file, and
every notebook runs top to bottom at its tiny size (``SANDBOX_NOTEBOOK_TINY=1``).

Skipped, with the reason, where the docs extra is not installed (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
KIND_PAGES = {"agent": ("agents", "agent"), "generative": ("generative", "model"), "backbone": ("backbones", "backbone"),
              "env": ("envs", "env"), "dataset": ("datasets", "data")}

for _module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_gen_files", "mkdocs_jupyter", "jupytext", "nbclient", "ipykernel"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: the docs tests need pip install -e \".[docs]\"")


def anchor(name: str) -> str:
    """The id docs/gen_pages.py gives a plugin's section."""
    return "plugin-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1",
           "SANDBOX_DOCS_CACHE": str(out / "cache"), "SANDBOX_DOCS_EXECUTE": "false"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"mkdocs build --strict: {time.monotonic() - start:.1f} s")
    return out / "site"


def test_the_site_builds_strict_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "own-plugin/index.html", "runs/index.html", "tracking/index.html",
                 "safety/index.html", "architecture/index.html", "benchmarks/index.html", "reference/index.html"):
        assert (site / page).is_file(), page
    for notebook in NOTEBOOKS:
        assert (site / "notebooks" / notebook.stem / "index.html").is_file(), notebook.name
    # nothing fetched from a CDN at build time, and no Google Fonts
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
    # the own-plugin page includes the tests' working example from the file itself
    assert "tiny/regress" in (site / "own-plugin" / "index.html").read_text()
    # the API reference rendered the docstrings
    assert "sandbox.history.metrics" in (site / "reference" / "index.html").read_text()


def test_every_plugin_and_every_field_is_in_the_generated_reference(site: Path) -> None:
    from sandbox.config import describe, plugin_config_class
    from sandbox.registry import list_plugins

    missing = []
    for kind, (page, section) in KIND_PAGES.items():
        text = (site / "plugins" / page / "index.html").read_text()
        entries = list_plugins(kind)
        assert entries, kind
        for entry in entries:
            name = entry["name"]
            if f'id="{anchor(name)}"' not in text:
                missing.append(f"{kind} {name}")
                continue
            section_html = text.split(f'id="{anchor(name)}"', 1)[1].split('<h2 id="plugin-', 1)[0]
            config_cls = plugin_config_class(section, name)
            if config_cls is None or config_cls is dict:
                continue
            for field, *_ in describe(config_cls):
                if html.escape(f"{section}.{field}") not in section_html:
                    missing.append(f"{kind} {name}: {section}.{field}")
    assert not missing, "not in the generated reference: " + ", ".join(missing)


def test_the_tuned_values_and_the_benchmarks_come_from_their_files(site: Path) -> None:
    agents = (site / "plugins" / "agents" / "index.html").read_text()
    assert "agents/tuned/ppo.yaml" in agents and "agent.n_steps=32" in agents  # ppo's CartPole-v1 entry
    bench = (site / "benchmarks" / "index.html").read_text()
    for result in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        assert f"benchmarks/results/{result.name}" in bench, result.name
    assert "python benchmarks/core_startup.py" in bench
    assert list((site / "assets" / "bench").glob("*.svg")), "no plot drawn from the results"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_the_notebook_runs_top_to_bottom_at_its_tiny_size(notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jupytext
    import nbclient

    monkeypatch.setenv("SANDBOX_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("SANDBOX_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = jupytext.read(notebook)
    assert any("SANDBOX_NOTEBOOK_TINY" in cell.source for cell in nb.cells if cell.cell_type == "code")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                                     resources={"metadata": {"path": str(ROOT)}})
    start = time.monotonic()
    client.execute()  # raises CellExecutionError on the first cell that fails
    print(f"{notebook.name}: {time.monotonic() - start:.1f} s")
    images = sum(1 for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 3, f"{notebook.name} drew {images} pictures"
