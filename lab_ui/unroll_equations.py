"""The Unroll page's equations: each step's formula, then the same formula with the Trace's numbers.

Numbers are rounded to 3 decimals for reading; the heatmaps beside them show the full vectors.
Weights are written in the notation the student chose in the sidebar (lab_ui.widgets.sym).
"""
import streamlit as st

from lab_ui import notation, widgets


def vec(v):
    return r"\begin{bmatrix}" + r" \\ ".join(f"{x + 0.0:.3f}" for x in v) + r"\end{bmatrix}"  # +0.0: no -0.000


def S(name, gate=""):
    """A weight in the chosen notation; with a gate, that gate's rows of it."""
    s = widgets.sym(name, latex=True)
    s = rf"\left({s}\right)" if "+" in s else f"{{{s}}}"
    return f"{s}^{{({gate})}}" if gate else s


def eq(lhs, symbolic, numbers):
    st.latex(rf"\begin{{aligned}} {lhs} &= {symbolic} \\ &= {numbers} \end{{aligned}}")


def letter(tr, index):
    return rf"\text{{“{tr.label(index)}”}}" if tr.vocab else tr.label(index)


def forward_equations(tr, t):
    s, prev = t - 1, "o" if tr.architecture == "output-to-hidden" else "h"
    act = {"tanh": r"\tanh", "sigmoid": r"\sigma", "relu": r"\mathrm{relu}", "linear": ""}
    one_hot = tr.vocab and tr.input_ids[s] >= 0
    what = rf"\text{{one-hot}}({letter(tr, tr.input_ids[s])}) = " if one_hot else ""
    st.latex(rf"x_{{{t}}} = {what}{vec(tr.X[s])}")
    for b in tr.blocks:
        gate, f = ("" if b.name == "h" else b.name), act[b.activation]
        rec = rf"{S('W_h', gate)} {prev}_{{{t - 1}}}"
        if tr.kind == "gru" and b.name == "n":  # the page's GRU resets before the product (Cho et al.)
            rec = rf"{S('W_h', 'n')} (r_{{{t}}} \odot h_{{{t - 1}}})"
        name = notation.OUTPUT_GATE if (tr.kind, b.name) == ("lstm", "o") else b.name
        eq(f"{name}_{{{t}}}", rf"{f}\left({S('W_x', gate)} x_{{{t}}} + {rec} + {S('b', gate)}\right)",
           rf"{f}\left({vec(b.input[s])} + {vec(b.recurrent[s])} + {vec(b.bias)}\right) = {vec(b.value[s])}")
    if tr.kind == "lstm":
        i, f, g, o = (b.value[s] for b in tr.blocks)
        eq(f"c_{{{t}}}", rf"f_{{{t}}} \odot c_{{{t - 1}}} + i_{{{t}}} \odot g_{{{t}}}",
           rf"{vec(f)} \odot {vec(tr.c_prev[s])} + {vec(i)} \odot {vec(g)} = {vec(tr.c[s])}")
        eq(f"h_{{{t}}}", rf"{notation.OUTPUT_GATE}_{{{t}}} \odot \tanh(c_{{{t}}})",
           rf"{vec(o)} \odot \tanh{vec(tr.c[s])} = {vec(tr.h[s])}")
    if tr.kind == "gru":
        _, z, n = (b.value[s] for b in tr.blocks)
        eq(f"h_{{{t}}}", rf"(1 - z_{{{t}}}) \odot n_{{{t}}} + z_{{{t}}} \odot h_{{{t - 1}}}",
           rf"\left(1 - {vec(z)}\right) \odot {vec(n)} + {vec(z)} \odot {vec(tr.h_prev[s])} = {vec(tr.h[s])}")
    if tr.has_loss[s]:
        h = rf"h^{{({tr.depth})}}_{{{t}}}" if tr.depth > 1 else f"h_{{{t}}}"
        if tr.bidirectional:
            h = rf"\begin{{bmatrix}} \overrightarrow{{{h}}} \\ \overleftarrow{{{h}}} \end{{bmatrix}}"
        st.latex(rf"o_{{{t}}} = {S('W_y')} {h} + {S('c')} = {vec(tr.o[s])}, \quad "
                 rf"y_{{{t}}} = \operatorname{{softmax}}(o_{{{t}}}) = {vec(tr.y[s])}")
        st.latex(rf"L_{{{t}}} = -\log y_{{{t}}}[{letter(tr, tr.targets[s])}] = {tr.losses[s]:.3f}")


def backward_equations(tr, t):
    s, d = t - 1, (lambda v: rf"\frac{{\partial L}}{{\partial {v}}}")
    if tr.has_loss[s] and tr.loss_used[s]:
        st.latex(rf"\frac{{\partial L_{{{t}}}}}{{\partial o_{{{t}}}}} = y_{{{t}}} - \text{{one-hot}}"
                 rf"({letter(tr, tr.targets[s])}) = {vec(tr.dO[s])}")
    parts = [(tr.dh_from_output[s], rf"h^{{(2)}}_{{{t}}}" if tr.depth > 1 else f"o_{{{t}}}")] \
        if tr.has_loss[s] or tr.depth > 1 else []
    parts += [(tr.dh_from_next[s], rf"\text{{step }} {t + 1}")] if t < tr.T else []
    st.latex(rf"{d(f'h_{{{t}}}')} = " + " + ".join(rf"\underbrace{{{vec(v)}}}_{{\text{{from }} {src}}}"
                                                   for v, src in parts) + f" = {vec(tr.dh[s])}")
    if tr.kind == "lstm" and t < tr.T:
        st.latex(rf"{d(f'c_{{{t}}}')}\Big|_{{\text{{from step }} {t + 1}}} = {vec(tr.dc_from_next[s])}")
    if tr.kind == "rnn":
        st.latex(rf"\delta_{{{t}}} = {d(f'a_{{{t}}}')} = {d(f'h_{{{t}}}')} \odot (1 - h_{{{t}}}^2) = "
                 rf"{vec(tr.contributions['b'][s])}")
        prev = "o" if tr.architecture == "output-to-hidden" else "h"
        adds = rf"&\mathrel{{+}}= \delta_{{{t}}}"  # what step t adds to each gradient
        st.latex(rf"\begin{{aligned}} \partial L / \partial {S('W_x')} {adds} x_{{{t}}}^\top \\ "
                 rf"\partial L / \partial {S('W_h')} {adds} {prev}_{{{t - 1}}}^\top \\ "
                 rf"\partial L / \partial {S('b')} {adds} \end{{aligned}}")
    dW = rf"\partial L / \partial {S('W_h')}"
    part = rf"\left.{dW}\right|_{{\text{{step }} s}}"
    st.latex(rf"\begin{{aligned}} {dW} &= \textstyle\sum_{{s=1}}^{{{tr.T}}} {part} \\ \text{{so far}} &= "
             rf"\textstyle\sum_{{s={t}}}^{{{tr.T}}} {part} \end{{aligned}}")
