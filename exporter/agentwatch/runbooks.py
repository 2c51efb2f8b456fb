"""The runbooks rendered for the web: ``/runbooks/<Alert>`` is ``docs/runbooks/<Alert>.md`` (which
ships with the package, ``agentwatch.shipped.RUNBOOKS``) as HTML, and ``/runbooks/`` lists them.

Every alert's ``runbook_url`` can so point at the exporter that raised it, behind the same auth as
/metrics, rather than at a repository a reader may not reach. Only a name that is a runbook file
is ever read (a name from a URL never becomes a path), raw HTML in the Markdown is not passed
through, and a link from one runbook to another (``AgentTaskStuck.md``) is rewritten to the
served page (``AgentTaskStuck``). The files do not change while agentwatch runs: each page is
rendered once.
"""

from __future__ import annotations

import html
import itertools
import re
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from agentwatch.shipped import RUNBOOKS
from agentwatch.webpage import html_page

# a link to a sibling runbook file, with an optional "./" and #fragment
_SIBLING_LINK = re.compile(r"^(?:\./)?(?P<name>[A-Za-z0-9_-]+)\.md(?P<fragment>#.*)?$")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@cache
def names(folder: Path = RUNBOOKS) -> tuple[str, ...]:
    """Every runbook, by alert name: the ``*.md`` files of ``folder``, sorted."""
    return tuple(sorted(p.stem for p in folder.glob("*.md") if p.is_file()))


def page(name: str, folder: Path = RUNBOOKS) -> bytes | None:
    """The HTML page of the runbook of alert ``name``; None when there is no such runbook (an
    unknown name, ``..``, a name with a slash or a suffix). Unknown names are not cached, so
    that requests for made-up names cannot grow the cache."""
    return _render(name, folder) if name in names(folder) else None


@cache
def index(folder: Path = RUNBOOKS) -> bytes:
    """The list of every runbook, each linked to its page (links relative to ``/runbooks/``)."""
    items = "".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in names(folder))
    body = f'<nav><a href="../">agentwatch</a></nav><h1>Runbooks</h1><p>One per alert.</p><ul>{items}</ul>'
    return html_page("Runbooks · agentwatch", body)


@cache
def _render(name: str, folder: Path) -> bytes:
    tokens = _MARKDOWN.parse((folder / f"{name}.md").read_text(encoding="utf-8"))
    _link_siblings(tokens, set(names(folder)))
    article = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    nav = '<nav><a href="./">All runbooks</a> · <a href="../">agentwatch</a></nav>'
    return html_page(f"{_title(tokens) or name} · agentwatch runbook", f"{nav}<main>{article}</main>")


def _link_siblings(tokens: list[Token], known: set[str]) -> None:
    """Point links to ``X.md`` (a runbook of ``known``) at the served page ``X``, in place."""
    for token in tokens:
        for child in token.children or ():
            if child.type != "link_open":
                continue
            match = _SIBLING_LINK.match(str(child.attrGet("href") or ""))
            if match and match["name"] in known:
                child.attrSet("href", match["name"] + (match["fragment"] or ""))


def _title(tokens: list[Token]) -> str | None:
    """The text of the first top-level heading (``# AgentTaskStuck``), if there is one."""
    for heading, inline in itertools.pairwise(tokens):
        if heading.type == "heading_open" and heading.tag == "h1":
            return inline.content
    return None
