"""lab_ui: what the pages of RNN Lab share: session state and the URL, the sidebar and notation
card, Plotly defaults, and the list of pages. The math lives in rnn_core; this is only UI.

    from lab_ui import plots, state, widgets
    state.init_defaults({"hidden": 4}, allowed={"hidden": (2, 8)})   # first, before drawing
    st.slider(f"Hidden size (rows of {widgets.sym('W_h')})", 2, 8, key="hidden")
    plots.show(plots.heatmap(W_h, title=widgets.sym("W_h")))
    state.sync_query_params(["hidden"])
"""
from lab_ui import nav, notation, plots, state, widgets

__all__ = ["nav", "notation", "plots", "state", "widgets"]
