"""The Char-RNN page's figures, built from a training run's history and rnn_core.sampling results.

The loss and gradient-norm figures are redrawn at every tick of live training, for every student
training at once, so they are built in one go from NumPy arrays (``plots.figure``): Plotly
validates them once and sends the series as binary arrays instead of JSON lists of numbers.
"""
import html
import math

import numpy as np
import plotly.graph_objects as go

from lab_ui import plots
from rnn_core.losses import perplexity

SHOWN = {" ": "␣", "\n": "↵", "\t": "⇥"}
LEGEND_BELOW = dict(orientation="h", y=-0.25)
C_TRAIN, C_VAL, C_NORM, C_CLIP = plots.OKABE_ITO[4], plots.OKABE_ITO[1], plots.OKABE_ITO[2], plots.OKABE_ITO[3]
C_NGRAM, C_UNIFORM = plots.OKABE_ITO[5], plots.OKABE_ITO[7]


def shown(char):
    """A character as Plotly text: whitespace made visible, markup characters escaped."""
    return html.escape(SHOWN.get(char, char))


def hline(steps, y, name, dash, color):
    """A horizontal reference line over the steps drawn, as a trace, so it sits right on a log axis."""
    span = [steps[0], steps[-1]] if len(steps) else [0, 1]
    return plots.line(span, [y, y], name, color, dash=dash, width=2, log=False)


def loss_figure(history, base, vocab_size, metric):
    """Train and validation loss (or perplexity) per step, with the n-gram and uniform baselines."""
    ppl = metric == "perplexity"
    f = perplexity if ppl else np.asarray
    train, val = history.train, history.val
    steps = np.asarray(train["step"])
    traces = [plots.line(steps, f(np.asarray(train["loss"])), "train", C_TRAIN, width=1, log=ppl),
              dict(plots.line(np.asarray(val["step"]), f(np.asarray(val["loss"])), "validation", C_VAL,
                              log=ppl), mode="lines+markers"),
              hline(steps, vocab_size if ppl else math.log(vocab_size), f"uniform (V = {vocab_size})",
                    "dot", C_UNIFORM)]
    if base is not None:
        traces.append(hline(steps, base.best_perplexity if ppl else math.log(base.best_perplexity),
                            f"best n-gram (n = {base.best_n})", "dash", C_NGRAM))
    yaxis = dict(type="log", dtick="D2", tickformat="~g") if ppl else dict(tickformat="~g")
    return plots.figure(traces, "Perplexity" if ppl else "Loss", "step",
                        "perplexity (log scale)" if ppl else "nats per character",
                        height=420, yaxis=yaxis, legend=LEGEND_BELOW)


def grad_norm_figure(history, clip):
    """The global gradient norm before clipping, per step, with the clipping threshold."""
    steps = np.asarray(history.train["step"])
    traces = [plots.line(steps, history.train["grad_norm"], "‖g‖ before clipping", C_NORM, width=1)]
    if clip:
        traces.append(hline(steps, clip, f"threshold {clip:g}", "dash", C_CLIP))
    return plots.figure(traces, "Gradient norm", "step", "‖g‖ (log scale)", height=420,
                        yaxis=dict(type="log", dtick="D2", tickformat="~g"), legend=LEGEND_BELOW)


def prob_figure(probs, vocab, k=20):
    """The ``k`` most likely next characters as bars."""
    top = np.argsort(-np.asarray(probs), kind="stable")[:k]
    bars = dict(type="bar", x=[f"{shown(vocab.chars[i])} " for i in top], y=np.asarray(probs)[top],
                marker_color=plots.OKABE_ITO[0], hovertemplate="%{x}: %{y:.3f}<extra></extra>")
    return plots.figure([bars], f"Next character: the {len(top)} most likely", ylabel="probability",
                        height=360, xaxis=dict(type="category"))


def strip_figure(text, values, unit, per_row=60):
    """The text in rows of ``per_row`` characters, each cell coloured by the unit's activation."""
    cells = [(j % per_row, j // per_row, float(values[j]), shown(text[j])) for j in range(len(text))]
    x, y, v, chars = zip(*cells)
    rows = y[-1] + 1
    z, hover = [[None] * per_row for _ in range(rows)], [[""] * per_row for _ in range(rows)]
    for col, row, value, char in cells:
        z[row][col], hover[row][col] = value, char
    fig = go.Figure(go.Heatmap(z=z, text=hover, zmin=-1, zmax=1, zmid=0, colorscale=plots.SIGNED_SCALE,
                               xgap=2, ygap=2, colorbar=dict(title=dict(text=f"h[{unit}]")),
                               hovertemplate="%{text}: h = %{z:.2f}<extra></extra>"))
    # Characters as their own trace: dark on pale cells, white on saturated ones, in either theme.
    fig.add_scatter(x=x, y=y, text=chars, mode="text", hoverinfo="skip", showlegend=False,
                    textfont=dict(size=plots.FONT_SIZE, color=["white" if abs(a) > 0.5 else "black" for a in v]))
    fig.update_xaxes(visible=False, range=[-0.5, per_row - 0.5])
    fig.update_yaxes(visible=False, range=[rows - 0.5, -0.5])  # first line on top
    return plots.style(fig, title=f"Hidden unit {unit} while reading", height=100 + 40 * rows)
