"""Assemble a self-contained HTML page: figures embedded as base64 PNG, no network."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #aaa}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;font-size:14px}th{background:#f0f0f0}img{max-width:100%;display:block;
margin:1em 0}.note{background:#fff6d5;border-left:4px solid #e0b000;padding:.5em 1em}
.muted{color:#777}nav a{margin-right:1em}
"""


@dataclass
class Figure:
    name: str  # file name stem, e.g. "pareto"
    png: bytes
    alt: str


@dataclass
class Section:
    id: str
    title: str
    parts: list = field(default_factory=list)  # HTML made by the methods below, or Figure

    def text(self, text: str, muted: bool = False) -> None:
        css = ' class="muted"' if muted else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")

    def bullets(self, items: list[tuple[str, str]], bold: bool = True, muted: bool = False) -> None:
        """A list of (lead, rest) items; the lead in bold unless `bold` is False."""
        css = ' class="muted"' if muted else ""
        lead = "<b>{}</b>" if bold else "{}"
        rows = "".join(f"<li>{lead.format(html.escape(a))} {html.escape(b)}</li>" for a, b in items)
        self.parts.append(f"<ul{css}>{rows}</ul>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def table(self, header: list[str], rows: list[list]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, fig: Figure) -> None:
        self.parts.append(fig)

    def figures(self) -> list[Figure]:
        return [p for p in self.parts if isinstance(p, Figure)]


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        for p in s.parts:
            if isinstance(p, Figure):
                data = base64.b64encode(p.png).decode("ascii")
                body.append(
                    f'<img id="fig-{p.name}" alt="{html.escape(p.alt)}" '
                    f'src="data:image/png;base64,{data}">'
                )
            else:
                body.append(p)
        body.append("</section>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)}</p>'
        f"<nav>{nav}</nav>{''.join(body)}</body></html>"
    )
