"""Errors the sandbox raises on purpose: each carries one sentence for the person at the keyboard."""

from __future__ import annotations


class SandboxError(Exception):
    """A problem the user can fix; the command line prints its message alone and exits 2."""

    exit_code = 2


class ConfigError(SandboxError):
    """A bad key, value, plugin name or combination in a run's configuration."""


class RunDirError(SandboxError):
    """A run directory that is missing, foreign, or holds an unreadable checkpoint."""


class UnsupportedInput(ConfigError):
    """A backbone asked to read an input kind (or play a role) it cannot."""


class MachineError(SandboxError):
    """A failure of the machine rather than of the input (a place that cannot be written, a full
    disk, missing permission): one sentence, exit 1."""

    exit_code = 1
