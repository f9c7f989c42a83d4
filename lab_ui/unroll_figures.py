"""The Unroll page's figures, built from an rnn_core.unroll Trace: the unrolled graph, the step's
vectors, the per-step and running gradient sums, and the O(T) cost curves.

Traces are dicts passed to go.Figure once: each Plotly add_*/update_* call re-validates the whole
figure, which is quadratic in the number of arrows and slow with many panels.
"""
import functools
import re

import plotly.graph_objects as go

from lab_ui import plots, widgets
from rnn_core import unroll as U

GRAD, FWD = "#D55E00", "#0072B2"  # backward and forward highlights (Okabe-Ito)
EDGE = "#8C8C8C"                  # mid grey: visible on the light and the dark theme
NODE = {"x": ("#0072B2", "white"), "h": ("#009E73", "white"), "o": ("#E69F00", "black"),
        "L": ("#CC79A7", "black"), "h0": ("#999999", "black"), "o0": ("#999999", "black")}


@functools.cache
def base_layout():
    """lab_ui.plots' look as a plain layout dict, computed once."""
    return {**plots.style(go.Figure()).layout.to_plotly_json(), "template": plots.TEMPLATE_NAME}


def figure(traces, height, **layout):
    base = base_layout()
    axes = {k: {**base[k[0] + "axis"], **v} for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)}
    return go.Figure(traces, {**base, "height": height, **layout, **axes})


def arrows(segments, color, width, opacity=1.0, name="arrows"):
    """One trace drawing every segment ((x0, y0), (x1, y1)) as an arrow; its head is a marker turned
    along the segment (angleref "previous"). Segments should already stop short of the nodes."""
    x, y, size = [], [], []
    for (x0, y0), (x1, y1) in segments:
        x += [x0, x1, None]
        y += [y0, y1, None]
        size += [0, 4 * width + 3, 0]
    return dict(type="scatter", x=x, y=y, mode="lines+markers", name=name, hoverinfo="skip", showlegend=False,
                opacity=opacity, line=dict(color=color, width=width),
                marker=dict(symbol="arrow", angleref="previous", size=size, color=color))


def graph_figure(tr, t, phase):
    """The unrolled graph: nodes at (step, row), arrows labelled with the shared weights; in the
    backward phase, the gradient (orange) flows right to left from the losses down to step t."""
    nodes, edges = U.graph(tr)
    gap = 1.4 if tr.bidirectional else 1.0  # rows per layer; a reverse direction sits up and to the right
    top = 1 + gap * (tr.depth - 1) + 0.7 * tr.bidirectional
    rows = {"x": 0, "o": top + 1, "o0": top + 1, "L": top + 2}
    xy = [(n.t + 1 + 0.33 * n.direction, rows.get(n.name, 1 + gap * n.layer + 0.7 * n.direction))
          for n in nodes]
    back, bottom = phase == "backward", -0.8 - 0.3 * (len(tr.windows) - 1) if tr.k1 else -0.5
    height = int(150 + 90 * (top + 3))
    px = (1050 / (tr.T + 1 + tr.bidirectional), (height - 50) / (top + 2.5 - bottom))  # pixels/unit, roughly

    def short(p, q, beside_px=0):
        """The segment p -> q cut 24 px short at both ends; beside_px > 0 moves it to the left of an
        upward edge and below a rightward one (where the gradient arrow goes)."""
        dx, dy = q[0] - p[0], q[1] - p[1]
        length = ((dx * px[0]) ** 2 + (dy * px[1]) ** 2) ** 0.5
        ox, oy = -beside_px * dy * px[1] / length / px[0], -beside_px * dx * px[0] / length / px[1]
        f = 24 / length
        return (p[0] + f * dx + ox, p[1] + f * dy + oy), (q[0] - f * dx + ox, q[1] - f * dy + oy)

    shapes = [dict(type="rect", x0=t - 0.45, x1=t + 0.45, y0=0, y1=1, yref="paper", line=dict(width=0),
                   fillcolor=GRAD if back else FWD, opacity=0.12)]
    shapes += [dict(type="rect", x0=w.grad_start + 0.65, x1=w.stop + 0.35, y0=-0.5 - 0.3 * j,
                    y1=-0.7 - 0.3 * j, fillcolor=GRAD, opacity=0.4, line=dict(width=0))  # windows, under x
               for j, w in enumerate(tr.windows if tr.k1 else [])]
    solid, faded, grads, labels = [], [], [], {True: [], False: []}
    for e in edges:
        p, q, src, dst = xy[e.src], xy[e.dst], nodes[e.src], nodes[e.dst]
        cut = tr.k1 and not e.used
        (faded if cut else solid).append(short(p, q))
        if e.weight and src.direction == dst.direction and (e.kind != "up" or src.t == 0):  # fewer labels
            name = re.sub(r"^(\w)_(\w)$", r"\1<sub>\2</sub>", widgets.sym(e.weight))
            name += f" ({dst.layer + 1})" if e.kind == "up" else ""
            where = "top center" if p[1] == q[1] else "middle right"
            labels[not cut].append(((p[0] + q[0]) / 2, (p[1] + q[1]) / 2, name, where))
        if back and e.used and e.kind != "input" and dst.t >= t - 1 and src.direction == dst.direction == 0:
            grads.append(short(p, q, beside_px=10)[::-1])  # beside the edge, pointing back
    traces = [arrows(solid, EDGE, 2, 0.9), arrows(faded, EDGE, 2, 0.25, "cut"),
              arrows(grads, GRAD, 2.5, name="gradient")]
    for shown, items in labels.items():
        traces.append(dict(type="scatter", mode="text", x=[i[0] for i in items], y=[i[1] for i in items],
                           text=[i[2] for i in items], textposition=[i[3] for i in items], hoverinfo="skip",
                           showlegend=False, opacity=1 if shown else 0.35, textfont=dict(size=14),
                           name="labels"))
    for kind, (fill, ink) in NODE.items():
        idx = [i for i, n in enumerate(nodes) if n.name == kind]
        traces.append(dict(
            type="scatter", x=[xy[i][0] for i in idx], y=[xy[i][1] for i in idx], mode="markers+text",
            name=kind,
            text=[f"{kind[0]}<sub>{0 if kind.endswith('0') else nodes[i].t + 1}</sub>" for i in idx],
            hovertext=[node_hover(tr, nodes[i]) for i in idx], hoverinfo="text", showlegend=False,
            textfont=dict(color=ink, size=15), marker=dict(size=40, color=fill, opacity=[
                1 if nodes[i].active and (nodes[i].used or not tr.k1) else 0.3 for i in idx])))
    here = [i for i, n in enumerate(nodes) if n.t == t - 1 and not (back and n.name == "x")]
    traces.append(dict(type="scatter", x=[xy[i][0] for i in here], y=[xy[i][1] for i in here], mode="markers",
                       name="current", hoverinfo="skip", showlegend=False, marker=dict(
                           size=52, color="rgba(0,0,0,0)", line=dict(width=4, color=GRAD if back else FWD))))
    ticks = {0: "inputs x", top + 1: "outputs o", top + 2: "losses L"}
    for l in range(tr.depth):
        for k in range(1 + tr.bidirectional):
            name = f"layer {l + 1}" if tr.depth > 1 or tr.bidirectional else "hidden h"
            ticks[1 + gap * l + 0.7 * k] = name + (" ←" if k else " →") * tr.bidirectional
    xaxis = dict(tickvals=list(range(tr.T + 1)), ticktext=["start"] + [f"t={s}" for s in range(1, tr.T + 1)],
                 range=[-0.5, tr.T + 0.5 + tr.bidirectional], showgrid=False, zeroline=False)
    yaxis = dict(tickvals=list(ticks), ticktext=list(ticks.values()), showgrid=False, zeroline=False,
                 range=[bottom, top + 2.5])
    return figure(traces, height, shapes=shapes, xaxis=xaxis, yaxis=yaxis,
                  margin=dict(t=20, b=30, l=90, r=20))


def node_hover(tr, n):
    values = {"x": tr.X, "o": tr.o, "L": tr.losses[:, None],
              "h": tr.layers[n.layer][n.direction] if n.layer >= 0 else None}.get(n.name)
    if values is None:
        return "initial state: zeros"
    return f"{n.name}_{n.t + 1} = [" + ", ".join(f"{v:.3f}" for v in values[n.t]) + "]"


def grid(cells, titles, rows=1, height=300, gap=0.03, matrix=True, **layout):
    """Panels in `rows` rows (a light make_subplots): cells are trace dicts, row-major; `matrix`
    hides the axes and puts row 0 at the top."""
    cols = len(cells) // rows
    width, tall = (1 - gap * (cols - 1)) / cols, (1 - 0.16 * (rows - 1)) / rows
    axes = dict(visible=False) if matrix else {}
    notes = []
    for i, (trace, title) in enumerate(zip(cells, titles)):
        r, c, n = divmod(i, cols) + (i + 1,)
        x0, y1 = c * (width + gap), 1 - r * (tall + 0.16)
        trace.update(xaxis=f"x{n}", yaxis=f"y{n}")
        layout[f"xaxis{n}"] = dict(domain=[max(0, x0), min(1, x0 + width)], anchor=f"y{n}", **axes)
        layout[f"yaxis{n}"] = dict(domain=[max(0, y1 - tall), min(1, y1)], anchor=f"x{n}", **axes,
                                   **({"autorange": "reversed"} if matrix else {}))
        notes.append(dict(text=title, x=x0 + width / 2, y=y1, xref="paper", yref="paper", showarrow=False,
                          xanchor="center", yanchor="bottom", font=dict(size=14)))
    return figure(cells, height, annotations=notes, **layout)


def vectors_figure(columns):
    """Column vectors side by side as heatmaps, one diverging scale centred at 0."""
    bound = max(float(abs(v).max()) for _, v in columns) or 1.0
    few = len(columns) <= 6  # room to write the numbers in the cells
    cells = [dict(type="heatmap", z=v.reshape(-1, 1), zmin=-bound, zmax=bound, zmid=0, name=name,
                  showscale=j == len(columns) - 1, colorscale=plots.SIGNED_SCALE,
                  texttemplate="%{z:.2f}" if few else None, textfont=dict(size=12),
                  hovertemplate=f"{name}[%{{y}}] = %{{z:.6f}}<extra></extra>")
             for j, (name, v) in enumerate(columns)]
    return grid(cells, [name for name, _ in columns], height=110 + 34 * max(len(v) for _, v in columns),
                gap=0.05 if few else 0.025, margin=dict(t=60, b=10, l=10, r=10))


def step_vectors(tr, t, phase):
    s, sub = t - 1, (lambda name, k: f"{name}<sub>{k}</sub>")
    if phase == "backward":
        cols = [(f"∂L{sub('', t)}/∂{sub('o', t)}", tr.dO[s])] if tr.has_loss[s] else []
        cols += [("from<br>above" if tr.depth > 1 else f"from<br>{sub('o', t)}", tr.dh_from_output[s]),
                 (f"from<br>step {t + 1}", tr.dh_from_next[s]), (f"∂L/∂{sub('h', t)}", tr.dh[s])]
        return cols + ([(sub("δ", t), tr.contributions["b"][s])] if tr.kind == "rnn" else [])
    prev = "o" if tr.architecture == "output-to-hidden" else "h"
    cols = [(sub("x", t), tr.X[s]), (sub(prev, t - 1), tr.h_prev[s])]
    cols += [(sub("c", t - 1), tr.c_prev[s])] if tr.kind == "lstm" else []
    cols += [(sub("a", t), b.pre[s]) if b.name == "h" else
             (sub("o<sup>gate</sup>" if (tr.kind, b.name) == ("lstm", "o") else b.name, t), b.value[s])
             for b in tr.blocks]
    cols += [(sub("c", t), tr.c[s])] if tr.kind == "lstm" else []
    return cols + [(sub("h", t), tr.h[s])] + ([(sub("y", t), tr.y[s])] if tr.has_loss[s] else [])


def grads_figure(tr, t):
    """Per parameter: what step t adds (top row) and the running sum from T down to t (bottom)."""
    names, cells = list(tr.grads), []
    for label, arrays in (("step", tr.contributions), ("sum", tr.running)):
        for n in names:
            bound = float(max(abs(tr.running[n]).max(), abs(tr.contributions[n]).max())) or 1.0
            z = arrays[n][t - 1].reshape(len(arrays[n][t - 1]), -1)
            cells.append(dict(type="heatmap", z=z, zmin=-bound, zmax=bound, zmid=0,
                              colorscale=plots.SIGNED_SCALE, showscale=False, name=f"{label} d{n}", textfont=dict(size=11),
                              texttemplate="%{z:.2f}" if z.shape[0] <= 8 else None,  # gated cells: 4H rows
                              hovertemplate=f"d{n}[%{{y}},%{{x}}] = %{{z:.6f}}<extra>{label}</extra>"))
    titles = [f"∂L/∂{widgets.sym(n)}<br>step {t} adds" for n in names]
    titles += [f"sum of steps<br>{t}..{tr.T}" for _ in names]
    return grid(cells, titles, rows=2, height=480, margin=dict(t=60, b=10, l=10, r=10))


def cost_figure(tr):
    lengths = list(range(1, 4 * tr.T + 1))
    costs = [U.cost(tr.kind, tr.X.shape[1], tr.h.shape[1], tr.o.shape[1], T, tr.depth, tr.bidirectional,
                    tr.architecture) for T in lengths]
    cells = [dict(type="scatter", x=lengths, y=ys, mode="lines+markers", line=dict(width=3), showlegend=False,
                  marker=dict(size=[14 if T == tr.T else 0 for T in lengths]))
             for ys in ([c.floats for c in costs], [c.forward_macs + c.backward_macs for c in costs])]
    fig = grid(cells, ["values kept for the backward pass", "multiply-adds, forward + backward"], height=330,
               gap=0.1, matrix=False)
    return fig.update_xaxes(title_text="sequence length T (marker: this sequence)")
