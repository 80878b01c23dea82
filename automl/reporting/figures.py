"""Figure plumbing: Agg canvases made inside the report code (no pyplot, no global backend)."""

from __future__ import annotations

import io
import logging

from automl.errors import AutoMLError
from automl.reporting.html import Figure

log = logging.getLogger(__name__)


class NotApplicable(Exception):
    """This figure does not apply to this model (the message says why)."""


def new_figure(width: float = 8.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def add_figure(section, name: str, alt: str, make, *args) -> None:
    """Render one figure into `section`; a figure that does not apply leaves a visible note."""
    try:
        section.figure(Figure(name, to_png(make(*args)), alt))
    except NotApplicable as exc:
        section.note(f"{alt}: not shown, {exc}.")
    except AutoMLError as exc:
        section.note(f"{alt}: not shown, {exc}")
    except Exception as exc:  # a report shows what it can; the log keeps the traceback
        log.exception("figure %s failed", name)
        section.note(f"{alt}: could not be drawn ({type(exc).__name__}: {exc}).")
