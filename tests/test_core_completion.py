"""sandbox completion: a script that bash really completes with (commands, flags, presets, plugin names)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_flags_presets_and_plugins(tmp_path) -> None:
    script = subprocess.run([sys.executable, "-m", "sandbox", "completion", "bash"], capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    (tmp_path / "sandbox.bash").write_text(script.stdout)
    probe = r'''
source "$1"
comp() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE};
         COMPREPLY=(); _shtab_sandbox sandbox "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
comp sandbox tr
comp sandbox train ppo-c
comp sandbox train agent=p
comp sandbox sweep --sch
comp sandbox sample runs --sa
comp sandbox export runs --format d
comp sandbox sweep --scheduler a
'''
    out = subprocess.run(["bash", "-c", probe, "probe", str(tmp_path / "sandbox.bash")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["train", "ppo-cartpole", "agent=ppo", "--scheduler", "--sampler", "diffusers", "asha"]


def test_an_unknown_shell_is_one_sentence(capsys) -> None:
    from sandbox.cli import main

    assert main(["completion", "cmd.exe"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no completion for the shell 'cmd.exe'; use one of") and len(err.splitlines()) == 1
