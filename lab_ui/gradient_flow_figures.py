"""The Gradient-flow page's figures and its one-line readout, built from rnn_core.analysis results.

Figures are built in one go from plain dicts: Plotly validates the whole figure once, several
times faster than adding traces and updating the layout step by step (it keeps a slider move
under 150 ms). bench/page_gradient_flow.py times these functions.
"""
import functools

import numpy as np
import pandas as pd

from lab_ui import plots, widgets
from lab_ui.plots import LOG_AXIS, LOG_CEIL, LOG_FLOOR, line, on_log_axis

C_MEASURED, C_RHO, C_SIGMA, C_EXTRA = plots.OKABE_ITO[0], plots.OKABE_ITO[1], plots.OKABE_ITO[3], plots.OKABE_ITO[2]
GREY = "#8C8C8C"  # reference lines: mid grey reads on light and dark backgrounds
figure = functools.partial(plots.figure, height=480)


def log_axis(*arrays, **extra):
    """A log axis with about 8 labels whatever the span: 10^n steps of n decades (Plotly's dtick)."""
    values = np.concatenate([on_log_axis(a).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    decades = np.log10(values.max() / values.min()) if values.size else 1.0
    return dict(LOG_AXIS, dtick=max(1, int(np.ceil(decades / 8))), **extra)


def circle(r, name, color, dash=None):
    t = np.linspace(0, 2 * np.pi, 181)
    return dict(type="scatter", x=r * np.cos(t), y=r * np.sin(t), name=name, mode="lines",
                hoverinfo="skip", line=dict(color=color, dash=dash, width=2))


def hline(y, text, color, dash="dash"):
    """A horizontal reference line across the plot, labelled at its right end: (shape, annotation)."""
    return (dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=color, dash=dash, width=2)),
            dict(xref="x domain", x=1, yref="y", y=y, text=text, showarrow=False, xanchor="right", yanchor="bottom"))


def log_hline(y, text, color, dash="dash"):
    """hline on a log y axis: Plotly places annotations there by log10(y)."""
    shape, note = hline(y, text, color, dash)
    return shape, {**note, "y": float(np.log10(y))}


def eigen_figure(view):
    lam, sigma = view.spectrum.eigenvalues, view.spectrum.max_singular_value
    traces = [circle(1.0, "unit circle = 1/γ (γ = 1)", GREY), circle(sigma, f"σ_max = {sigma:.3g}", C_SIGMA, "dot")]
    if view.saturation.mean < 1:  # a tanh or ReLU that actually saturates: its effective radius
        rms = view.saturation.rms
        if rms > 0:
            traces.append(circle(1 / rms, f"1/γ_eff = {1 / rms:.3g} (RMS of φ′)", C_EXTRA, "dash"))
    traces.append(dict(type="scatter", x=lam.real, y=lam.imag, mode="markers", name="eigenvalues λ",
                       marker=dict(size=9, color=C_MEASURED)))
    return figure(traces, f"Eigenvalues of {widgets.sym('W_h')} (ρ = {view.spectrum.spectral_radius:.3g})",
                  "Re λ", "Im λ", yaxis=dict(scaleanchor="x", scaleratio=1), legend=dict(orientation="h", y=-0.2))


def singular_figure(view):
    sv, rho = view.spectrum.singular_values, view.spectrum.spectral_radius
    (s1, a1), (s2, a2) = hline(1.0, "1/γ = 1", GREY), hline(rho, f"ρ = {rho:.3g}", C_RHO, "dot")
    return figure([dict(type="scatter", x=np.arange(1, sv.size + 1), y=sv, name="σ_i", mode="lines+markers",
                        line=dict(color=C_SIGMA, width=2), marker=dict(size=7, color=C_SIGMA))],
                  "Singular values, largest first", "i", "σ_i", shapes=[s1, s2], annotations=[a1, a2])


def lag_figure(view):
    lags = view.curves.lags
    return figure([line(lags, view.profile, "measured ‖∂L_T/∂h_(T−lag)‖", C_MEASURED, width=4),
                   line(lags, view.curves.rho_line, "ρ^lag (linear RNN, normal W_h)", C_RHO, "dash"),
                   line(lags, view.curves.sigma_bound, "(γ σ_max)^lag: upper bound", C_SIGMA, "dot")],
                  f"Gradient reaching h_(T−lag) from the loss at step T ({view.conditions.nonlinearity})",
                  "lag T − k", "norm (log scale)", height=520,
                  yaxis=log_axis(view.profile, view.curves.rho_line, view.curves.sigma_bound),
                  legend=dict(orientation="h", y=-0.25))


def heatmap_figure(view):
    z = np.log10(on_log_axis(view.flow.norms)).astype(np.float32)  # (T, T + 1), NaN where k > t or unshowable;
    # float32: half the bytes to send, and a colour needs no more than 7 digits
    return figure([dict(type="heatmap", z=z, x=np.arange(z.shape[1]), y=np.arange(1, z.shape[0] + 1),
                        colorscale=plots.MAGNITUDE_SCALE, hoverongaps=False,
                        colorbar=dict(title=dict(text="log₁₀ ‖∂L_t/∂h_k‖")),
                        hovertemplate="t=%{y}, k=%{x}: 10^%{z:.1f}<extra></extra>")],
                  "Every loss L_t, every earlier state h_k", "k (state)", "t (loss step)")


def share_figure(view):
    return figure([dict(type="bar", x=np.arange(view.share.size), y=on_log_axis(view.share),
                        marker_color=C_MEASURED, name="share")],
                  f"Share of ∂L/∂{widgets.sym('W_h')} by distance t − k", "distance t − k (steps)",
                  "share (log scale)", yaxis=log_axis(view.share))


def factor_figure(view):
    counts, edges = np.histogram(view.flow.factors, bins=40, range=(0.0, 1.0 + 1e-9))
    mean = view.saturation.mean
    return figure([dict(type="bar", x=0.5 * (edges[1:] + edges[:-1]), y=counts / counts.sum(),
                        width=np.diff(edges), marker_color=C_EXTRA, name="φ′(a)")],
                  "The factors φ′(a_t) along the sequence", "φ′(a) (1 = linear, 0 = saturated)",
                  "fraction of (t, unit)",
                  shapes=[dict(type="line", x0=mean, x1=mean, xref="x", yref="y domain", y0=0, y1=1,
                               line=dict(color=C_SIGMA, dash="dash", width=2))],
                  annotations=[dict(x=mean, xref="x", y=1, yref="y domain", text=f"mean {mean:.2f}",
                                    showarrow=False, xanchor="left", yanchor="top")])


def non_normal_figure(spec, measured, worst):
    lags = np.arange(measured.size)
    rho, sigma = spec.spectral_radius, spec.max_singular_value
    with np.errstate(over="ignore"):
        return figure([line(lags, measured, "measured, one loss direction v", C_MEASURED, width=4),
                       line(lags, worst, "worst direction ‖W_h^lag‖₂", C_EXTRA),
                       line(lags, rho ** lags, f"ρ^lag, ρ = {rho:.2f}", C_RHO, "dash"),
                       line(lags, sigma ** lags, f"σ_max^lag, σ_max = {sigma:.2f}", C_SIGMA, "dot")],
                      "Linear RNN, non-normal W_h: ρ < 1, yet the gradient grows first", "lag",
                      "norm (log scale)", height=520, yaxis=dict(LOG_AXIS, range=[-12, 4], dtick=2),
                      legend=dict(orientation="h", y=-0.25))


def run_names(runs):
    return ["no clipping", "clipped by global norm" if runs[1].config.clip == "norm" else "clipped by value"]


def clip_charts(runs, baseline):
    """The live training charts as Vega-Lite (data, spec) pairs.

    Vega-Lite, not Plotly: a fragment rerun replaces a Plotly chart by a new one, which blinks
    three times a second while training; a Vega-Lite chart is updated in place.
    """
    cfg, names = runs[1].config, run_names(runs)
    applied_name = "applied norm" if cfg.clip == "norm" else "largest applied |entry|"
    series = {names[0]: (runs[0].norms, C_RHO, [1, 0]), names[1]: (runs[1].norms, C_MEASURED, [1, 0]),
              applied_name: (runs[1].clipped_norms if cfg.clip == "norm" else runs[1].max_abs, C_EXTRA, [3, 3])}
    # A run that blew up can reach losses of 1e30: then only a log axis shows both runs.
    log_loss = max((float(np.max(r.losses)) for r in runs if r.losses.size), default=0) > 100 * baseline
    loss = long_frame({n: r.losses for n, r in zip(names, runs)}, log=log_loss)
    norm = long_frame({n: y for n, (y, _, _) in series.items()}, log=True)
    loss_spec = vega_spec("Training loss", "loss (log scale)" if log_loss else "loss", log_loss,
                          dict(zip(names, (C_RHO, C_MEASURED))),
                          {n: [1, 0] for n in names}, [(baseline, "input-blind guess", GREY)])
    norm_spec = vega_spec("Gradient norm per step", "‖g‖ (log scale)", True, {n: c for n, (_, c, _) in series.items()},
                          {n: d for n, (_, _, d) in series.items()}, [(cfg.threshold, f"threshold {cfg.threshold:g}", C_SIGMA)])
    return (loss, loss_spec), (norm, norm_spec)


def long_frame(columns, log):
    """{series: values by step} as a long table (step, value, series); a log axis drops <= 0 and inf."""
    frames = []
    for name, values in columns.items():
        values = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(values) & ((values > 0) if log else True)
        frames.append(pd.DataFrame({"step": np.arange(1, values.size + 1)[keep], "value": values[keep], "series": name}))
    return pd.concat(frames, ignore_index=True)


def vega_spec(title, ylabel, log, colors, dashes, rules):
    """A layered line chart: one line per series, horizontal reference rules with a label at the right."""
    color = dict(field="series", type="nominal", title=None, scale=dict(domain=list(colors), range=list(colors.values())),
                 legend=dict(orient="bottom", direction="vertical", labelFontSize=16, labelLimit=400))
    layers = [dict(mark=dict(type="line", strokeWidth=2.5), encoding=dict(
        x=dict(field="step", type="quantitative", title="step"),
        y=dict(field="value", type="quantitative", title=ylabel, scale=dict(type="log") if log else {}),
        color=color, strokeDash=dict(field="series", type="nominal", legend=None,
                                     scale=dict(domain=list(dashes), range=list(dashes.values())))))]
    for value, label, rule_color in rules:
        layers += [dict(mark=dict(type="rule", strokeDash=[6, 4], strokeWidth=2, color=rule_color),
                        encoding=dict(y=dict(datum=value))),
                   dict(mark=dict(type="text", align="right", baseline="bottom", dy=-4, fontSize=15, color=rule_color),
                        encoding=dict(y=dict(datum=value), x=dict(value="width"), text=dict(value=label)))]
    return dict(title=dict(text=title, fontSize=20, anchor="start"), height=380, layer=layers,
                config=dict(axis=dict(labelFontSize=16, titleFontSize=17)))


def cliff_figure(surf, off, on):
    traces = [dict(type="heatmap", x=surf.w, y=surf.b, z=surf.loss, colorscale=[[0, "#E8E8E8"], [1, "#505050"]],
                   name="loss", colorbar=dict(title=dict(text="loss")), hovertemplate="w=%{x:.2f}, b=%{y:.2f}: %{z:.3f}<extra></extra>")]
    # Clipped first and wide, unclipped on top and thin: they share their first steps.
    for path, name, color, width in ((on, "clipped", plots.OKABE_ITO[4], 6), (off, "no clipping", C_RHO, 2)):
        traces.append(dict(type="scatter", x=path.points[:, 0], y=path.points[:, 1], mode="lines+markers", name=name,
                           line=dict(color=color, width=width), marker=dict(size=width + 3, color=color)))
    inside = ((off.points[:, 0] >= surf.w[0]) & (off.points[:, 0] <= surf.w[-1])
              & (off.points[:, 1] >= surf.b[0]) & (off.points[:, 1] <= surf.b[-1]))
    notes = []
    if not inside.all():
        out = int(np.argmin(inside))
        w, b = off.points[out]
        notes.append(dict(x=off.points[out - 1, 0], y=off.points[out - 1, 1], text=f"no clipping: step {out} "  # 1-based
                          f"jumps to (w, b) = ({w:.3g}, {b:.3g})", showarrow=True, arrowcolor=C_RHO, ax=80, ay=60,
                          bgcolor="rgba(255,255,255,0.85)", font=dict(color="#333333")))
    return figure(traces, "One tanh unit, T = 50 steps: loss over (w, b)", "w", "b", height=520,
                  xaxis=dict(range=[surf.w[0], surf.w[-1]]), yaxis=dict(range=[surf.b[0], surf.b[-1]]),
                  annotations=notes, legend=dict(orientation="h", y=-0.2))


def compare_figure(profiles):
    lags = np.arange(profiles[0].dh.size)
    rnn, lstm, gru = profiles
    return figure([line(lags, rnn.dh, "RNN ‖∂L/∂h‖", C_MEASURED, width=4),
                   line(lags, lstm.dh, "LSTM ‖∂L/∂h‖", C_RHO, width=4),
                   line(lags, lstm.dc, "LSTM ‖∂L/∂c‖ (cell path)", C_RHO, "dash"),
                   line(lags, lstm.forget_product, "LSTM ∏ f (mean over units)", C_RHO, "dot"),
                   line(lags, gru.dh, "GRU ‖∂L/∂h‖", C_EXTRA, width=4)],
                  f"Same {widgets.sym('W_h')}, same inputs: who keeps the gradient alive?", "lag",
                  "norm (log scale)", height=520, yaxis=log_axis(rnn.dh, lstm.dh, gru.dh, lstm.forget_product),
                  legend=dict(orientation="h", y=-0.25))


# --- text ----------------------------------------------------------------------------------

def readout(view):
    r, beyond = view.ratio, ""
    if np.any(view.profile[1:] == 0) or np.any(view.profile < LOG_FLOOR):
        first = int(np.argmax(view.profile < LOG_FLOOR))
        beyond = f" From lag {first} on it is below 1e-300 (float64 underflow): those points are not drawn."
    elif not np.all(np.isfinite(view.profile)) or np.any(view.profile > LOG_CEIL):
        first = int(np.argmax(~np.isfinite(view.profile) | (view.profile > LOG_CEIL)))
        beyond = f" From lag {first} on it is beyond 1e300 (float64 overflow): those points are not drawn."
    size = "infinitely larger than (overflowed)" if np.isinf(r.ratio) else f"{r.ratio:.2g} times"
    return (f"The gradient from **{r.lag} steps back** is **{size}** the gradient from the last step: "
            f"**{r.verdict}**.{beyond}  \n{view.conditions.summary}.")


def lag_figures(view):
    """The first tab's figures, by name (what a slider move rebuilds)."""
    return {"eigen": eigen_figure(view), "sv": singular_figure(view), "lag": lag_figure(view),
            "heat": heatmap_figure(view), "share": share_figure(view), "factors": factor_figure(view)}
