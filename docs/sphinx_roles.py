"""A Griffe extension (loaded by mkdocstrings, see ``mkdocs.yml``) that renders the Sphinx roles the
docstrings are written with, ``:func:`smooth` ``, ``:class:`~sandbox.run.Run` ``, ``:meth:`Registry.provide` ``:
each becomes a code span, ``smooth()``, that links to the object's entry where the site documents it
(a cross-reference marked optional, so a name the site does not document stays plain code and the
strict build does not fail on it).

Names are resolved the way Sphinx resolves them, from the docstring's own scope outwards (a method's
class, then its module); a leading ``~`` shows the last component only, ``title <target>`` shows the
title; a name that cannot be resolved keeps its text and links nowhere.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: ``:role:`text` `` (also ``:py:role:``); the roles a docstring in this repository uses, and their kin
ROLE = re.compile(r":(?:py:)?(?P<role>func|meth|class|mod|attr|data|exc|obj|const|type):`(?P<text>[^`]+)`")
#: roles whose title reads as a call
CALLABLE = {"func", "meth"}


def resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path of ``target`` seen from ``obj``'s scope, or None."""
    head, _, rest = target.partition(".")
    scope: Any = obj
    while scope is not None:
        try:
            path = scope.resolve(head)
        except Exception:  # griffe's NameResolutionError, or an alias it cannot follow
            path = None
        if path:
            return f"{path}.{rest}" if rest else path
        scope = scope.parent
    # an absolute path (``sandbox.run.load``) that no scope imports
    return target if "." in target else None


def render(obj: griffe.Object, match: re.Match[str]) -> str:
    role, text = match["role"], match["text"].strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", text)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    else:
        target = text.lstrip("~!")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
        if role in CALLABLE and not title.endswith(")"):
            title += "()"
    target = target.lstrip("~!")
    code = f"<code>{html.escape(title)}</code>"
    path = resolve(obj, target)
    if path is None:
        return code
    return f'<autoref identifier="{html.escape(path, quote=True)}" optional>{code}</autoref>'


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring into (optionally linked) code spans."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None or ":" not in docstring.value:
            return
        value = ROLE.sub(lambda m: render(obj, m), docstring.value)
        if value != docstring.value:
            docstring.value = value
            # the parsed sections are cached on first use; drop them if anything read them already
            docstring.__dict__.pop("parsed", None)
