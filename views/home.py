"""Home: what an RNN is, in one screen; the learning path; the notation card."""
import streamlit as st

from lab_ui import nav, state, widgets

state.init_defaults({})

st.title("RNN Lab")
st.markdown("Recurrent neural networks you can take apart: every number on these pages comes "
            "from a small NumPy engine that does its own backpropagation through time.")

left, right = st.columns([1, 1], gap="large")

with left:
    st.subheader("What an RNN is")
    st.markdown(
        "- **A recurrence, unfolded.** An RNN reads a sequence one step at a time and applies the "
        "same small network at every step. Written out step by step, the recurrence becomes an "
        "ordinary computational graph, as deep as the sequence is long, and backpropagation runs "
        "through it: *backpropagation through time*.\n"
        "- **Parameters shared across time.** Every step uses the same weights, so the network "
        "handles sequences of any length, and the gradient of a weight is the sum of its "
        "gradients at all the steps.\n"
        "- **The hidden state: a lossy summary of the past.** A fixed-size vector carries "
        "everything the network remembers. What it forgets, and how gradients fade or blow up "
        "on the way back, is what the later pages are about."
    )

    st.subheader("Learning path")
    for spec in nav.existing_pages():
        if spec is nav.HOME:
            continue
        st.page_link(spec.path, label=spec.title, icon=spec.icon)
        st.caption(spec.teaches)

with right:
    widgets.notation_card()
