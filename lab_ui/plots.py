"""Plotly defaults readable on a projector, in Streamlit's light and dark themes.

Large fonts, the Okabe-Ito colour-blind-safe palette, transparent backgrounds (the Streamlit
theme shows through) and no fixed text colour (Streamlit's theme picks one that contrasts).
Builders return figures; `show` draws one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas  # noqa: F401  (see below)
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

# Okabe & Ito (2008), without black (invisible on a dark theme); yellow last (faint on white).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#999999")
FONT_SIZE = 18
TITLE_SIZE = 20
SIGNED_SCALE = "RdBu_r"     # diverging, red for positive, blue for negative, white at 0
MAGNITUDE_SCALE = "Viridis"

# Why pandas is imported above: Plotly checks values against sys.modules["pandas"] without
# importing it, so a figure built while another session's thread is still importing pandas
# (the first seconds after a server start) fails on a half-initialised module. Importing it
# here, before any figure is built, waits for that import to finish.

TEMPLATE_NAME = "rnn_lab"
pio.templates[TEMPLATE_NAME] = go.layout.Template(
    data=dict(scatter=[go.Scatter(line=dict(width=3), marker=dict(size=9))]),  # seen from afar
    layout=go.Layout(
        font=dict(size=FONT_SIZE),
        title=dict(font=dict(size=TITLE_SIZE)),
        colorway=list(OKABE_ITO),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(font=dict(size=FONT_SIZE - 2)),
        hoverlabel=dict(font=dict(size=FONT_SIZE - 2)),
    )
)


def style(fig: go.Figure, *, title: str | None = None, height: int | None = None,
          xlabel: str | None = None, ylabel: str | None = None) -> go.Figure:
    """Apply the RNN Lab look to `fig` (in place) and return it, for chaining."""
    # Sizes are set on the figure, not only in the template: st.plotly_chart(theme="streamlit")
    # swaps the template for Streamlit's, whose axis fonts are too small for a projector. The
    # colours stay in the template, so Streamlit's theme can use the light or dark variant of
    # the same palette (.streamlit/config.toml).
    fig.update_layout(
        template=TEMPLATE_NAME,
        font=dict(size=FONT_SIZE),
        legend=dict(font=dict(size=FONT_SIZE - 2)),
        hoverlabel=dict(font=dict(size=FONT_SIZE - 2)),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    fig.update_xaxes(tickfont=dict(size=FONT_SIZE - 2), title=dict(font=dict(size=FONT_SIZE)))
    fig.update_yaxes(tickfont=dict(size=FONT_SIZE - 2), title=dict(font=dict(size=FONT_SIZE)))
    if title is not None:
        fig.update_layout(title=dict(text=title, font=dict(size=TITLE_SIZE)))
    if height is not None:
        fig.update_layout(height=height)
    if xlabel is not None:
        fig.update_xaxes(title_text=xlabel)
    if ylabel is not None:
        fig.update_yaxes(title_text=ylabel)
    return fig


def axis(label: str | None = None, **extra) -> dict:
    """An axis with the projector-sized title and tick fonts; ``extra`` adds or overrides keys."""
    title = dict(font=dict(size=FONT_SIZE), **({"text": label} if label is not None else {}))
    return {"title": title, "tickfont": dict(size=FONT_SIZE - 2), **extra}


def figure(traces: Sequence[dict], title: str = "", xlabel: str | None = None, ylabel: str | None = None,
           *, height: int = 440, xaxis: dict | None = None, yaxis: dict | None = None,
           legend: dict | None = None, **layout) -> go.Figure:
    """A figure in the RNN Lab look, built from plain dicts in one go.

    It looks like ``style(go.Figure(...))`` but Plotly validates it once instead of at every
    update call, which is several times faster (about 6 ms instead of 25 ms): pages that rebuild
    many figures on a slider move use this. Sizes are set on the figure, not only in the template,
    for the reason given in ``style``.
    """
    return go.Figure(data=list(traces), layout=dict(
        template=TEMPLATE_NAME, font=dict(size=FONT_SIZE), height=height,
        title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=axis(xlabel, **(xaxis or {})), yaxis=axis(ylabel, **(yaxis or {})),
        legend=dict(font=dict(size=FONT_SIZE - 2), **(legend or {})),
        hoverlabel=dict(font=dict(size=FONT_SIZE - 2)),
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", **layout))


LOG_FLOOR, LOG_CEIL = 1e-300, 1e300  # what a log axis can show; beyond: float64 underflow / overflow
LOG_AXIS = dict(type="log", exponentformat="power")


def on_log_axis(y: Any) -> np.ndarray:
    """y with what a log axis cannot draw (0, inf, NaN, beyond 1e+-300) as NaN: a gap, not a wrong point."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(np.isfinite(y) & (y >= LOG_FLOOR) & (y <= LOG_CEIL), y, np.nan)


def line(x: Any, y: Any, name: str, color: str, dash: str | None = None, width: int = 3,
         log: bool = True) -> dict:
    """A line trace as a dict for ``figure``; on a log axis (``log``) undrawable values become gaps."""
    return dict(type="scatter", x=x, y=on_log_axis(y) if log else y, name=name, mode="lines",
                line=dict(color=color, dash=dash, width=width))


def heatmap(z: Any, x: Sequence | None = None, y: Sequence | None = None, *, title: str = "",
            signed: bool | None = None, colorscale: str | None = None, values: bool = False,
            zlabel: str | None = None, height: int | None = None, matrix: bool = True) -> go.Figure:
    """A heatmap of the 2-D array `z` (rows, cols); row 0 at the top, as a matrix is written.

    `signed` (default: whether z has negative entries) picks a diverging scale centred at 0,
    else a sequential one for magnitudes. `values=True` writes each entry in its cell, for the
    small matrices of the Unroll page.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]  # a vector is drawn as a column
    if z.ndim != 2:
        raise ValueError(f"z must be a 1-D or 2-D array; got shape {z.shape}")
    if signed is None:
        signed = bool(np.nanmin(z) < 0) if np.isfinite(z).any() else False
    trace: dict[str, Any] = dict(
        z=z, x=x, y=y, colorscale=colorscale or (SIGNED_SCALE if signed else MAGNITUDE_SCALE),
        colorbar=dict(title=dict(text=zlabel or "", font=dict(size=FONT_SIZE - 2)),
                      tickfont=dict(size=FONT_SIZE - 2), outlinewidth=0),
    )
    if signed:
        bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        trace.update(zmid=0.0, zmin=-bound or -1.0, zmax=bound or 1.0)
    if values:
        trace.update(texttemplate="%{z:.2f}", textfont=dict(size=FONT_SIZE - 2))
    fig = go.Figure(go.Heatmap(**trace))
    if matrix:
        fig.update_yaxes(autorange="reversed")
    return style(fig, title=title, height=height)


def show(fig: go.Figure, *, key: str | None = None) -> None:
    """Draw `fig` full width with Streamlit's theme, so it follows light and dark mode."""
    st.plotly_chart(fig, theme="streamlit", width="stretch", key=key)
