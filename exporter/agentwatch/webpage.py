"""The HTML shell of the pages agentwatch serves (the landing page at ``/``, the runbooks under
``/runbooks/``): one small inline stylesheet and no scripts, so that a page reads well in any
browser, loads nothing from elsewhere, and works where no other UI runs (the no-Docker path)."""

from __future__ import annotations

import html

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}code,pre{background:#f4f4f4;border-radius:3px}code{padding:0 .2rem}pre{padding:.6rem;overflow-x:auto}
nav{margin-bottom:1rem}.down,.error{color:#b00020}.up{color:#1b7f3b}.pending{color:#8a6d00}"""


def html_page(title: str, body: str) -> bytes:
    """A whole page, UTF-8. ``title`` is plain text (escaped here); ``body`` is HTML whose every
    value the caller has escaped already."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    ).encode()
