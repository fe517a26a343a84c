"""A self-contained HTML page of numbers and pictures (the demo's ``report.html``).

Sections hold paragraphs, tables and images; images are linked by paths relative to the page, so the page and its
pictures move together as one folder.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lift3d.io.atomic import atomic_write

__all__ = ["Section", "write_html_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img, video { max-width: 100%; border: 1px solid #ddd; } pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
"""


@dataclass
class Section:
    """One titled part of the page.

    Attributes:
        title: Heading.
        paragraphs: Plain-text paragraphs (escaped).
        tables: (caption, header, rows) triples; cells are formatted with `str`.
        images: (path, caption) pairs; PNG / JPEG shown inline, ``.mp4`` as a video player.
        preformatted: Blocks shown verbatim (e.g. a summary table printed by a command).
    """

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = field(default_factory=list)
    images: list[tuple[str | os.PathLike, str]] = field(default_factory=list)
    preformatted: list[str] = field(default_factory=list)


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _media(path: Path, caption: str, page_dir: Path) -> str:
    rel = html.escape(os.path.relpath(path, page_dir))
    if path.suffix.lower() in (".mp4", ".webm"):
        tag = f'<video src="{rel}" controls loop muted></video>'
    else:
        tag = f'<a href="{rel}"><img src="{rel}" alt="{html.escape(caption)}"></a>'
    return f"<figure>{tag}<figcaption>{html.escape(caption)}</figcaption></figure>"


def write_html_report(path: str | os.PathLike, title: str, sections: Sequence[Section], *, intro: str = "") -> Path:
    """Write an HTML page atomically.

    Args:
        path: Destination ``.html``; image paths are written relative to its folder.
        title: Page title and top heading.
        sections: The parts of the page, in order.
        intro: A paragraph under the title.

    Returns:
        The path written.
    """
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]  # fmt: skip
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
        parts += [_table(*t) for t in s.tables]
        parts += [f"<pre>{html.escape(b)}</pre>" for b in s.preformatted]
        parts += [_media(Path(p), c, path.parent) for p, c in s.images]
    parts.append("</body></html>\n")
    with atomic_write(path) as f:
        f.write("\n".join(parts))
    return path
