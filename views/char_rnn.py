"""Char-RNN: train a character language model live, watch it learn, sample it, look inside.

The training itself is rnn_core.training; the figures are lab_ui.char_rnn_figures. The training run
lives in this session's state only.
"""
import hashlib

import streamlit as st

from lab_ui import plots, state, widgets
from lab_ui.char_rnn_figures import grad_norm_figure, loss_figure, prob_figure, strip_figure
from rnn_core import training as tr
from rnn_core.checkpoint import CheckpointError
from rnn_core.corpora import CORPORA, load_corpus
from rnn_core.ngram import best_baseline
from rnn_core.sampling import hidden_activations, most_variable_units, next_char_probs, sample_text
from rnn_core.text import CorpusError, Vocab, decode_upload, split

CELLS = {"rnn": "RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD + momentum", "adagrad": "Adagrad", "adam": "Adam"}
CHOICES = {"char_corpus": list(CORPORA) + ["upload"], "char_cell": list(CELLS),
           "char_hidden": [32, 64, 128, 256], "char_layers": [1, 2, 3], "char_seq": [16, 32, 64, 128],
           "char_batch": [8, 16, 32, 64], "char_optimizer": list(OPTIMIZERS),
           "char_lr": [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0],
           "char_clip": [0.0, 0.25, 1.0, 5.0, 25.0], "char_steps": [300, 1000, 2000, 5000, 10000]}
DEFAULTS = {"char_corpus": "stories", "char_cell": "lstm", "char_hidden": 128, "char_layers": 1,
            "char_seq": 64, "char_batch": 32, "char_optimizer": "adam", "char_lr": 2e-3,
            "char_clip": 5.0, "char_steps": 2000, "char_metric": "perplexity",
            "char_temperature": 0.8, "char_length": 300}
URL = {key: key.removeprefix("char_") for key in CHOICES}  # short deep links: ?cell=gru&hidden=64
CONFIG = {"char_cell": "cell", "char_hidden": "hidden_size", "char_layers": "num_layers",
          "char_seq": "seq_len", "char_batch": "batch_size", "char_optimizer": "optimizer",
          "char_lr": "lr", "char_clip": "clip", "char_steps": "total_steps", "seed": "seed"}
TICK_SECONDS = 0.15  # compute per fragment run: a click is answered within about this
TICK_EVERY = 0.35    # seconds between fragment runs


# --- state, controls and actions (callbacks run before the page is drawn) ---------------------

def init_state():
    linked = {key: state.parse_value(st.query_params.get(URL[key]), value, CHOICES.get(key))
              if key in URL else value for key, value in DEFAULTS.items()}
    if linked["char_corpus"] == "upload":
        linked["char_corpus"] = DEFAULTS["char_corpus"]  # an upload cannot travel in a link
    state.init_defaults(linked, CHOICES)
    for key in ("char_run", "char_upload", "char_notice"):
        st.session_state.setdefault(key, None)


def sync_url():
    state.sync_query_params([])  # the shared seed
    for key, name in URL.items():
        text = state.format_value(st.session_state[key])
        if text != "upload" and st.query_params.get(name) != text:
            st.query_params[name] = text


def on_upload():
    """Accept an uploaded .txt as the corpus, or say why not and keep the current one."""
    ss, file = st.session_state, st.session_state.get("char_upload_file")
    if file is None:
        return
    try:
        text = decode_upload(file.getvalue())
    except CorpusError as err:
        ss.char_notice = ("error", f"{file.name} was not loaded: {err} The corpus is unchanged.")
        return
    ss.char_upload = (file.name, text, hashlib.sha1(text.encode()).hexdigest()[:8])
    ss.char_corpus, ss.char_notice = "upload", ("success", f"Loaded {file.name}: {len(text):,} characters.")


def controls():
    """The sidebar settings; returns (corpus id, its text or None, TrainConfig)."""
    ss, upload = st.session_state, st.session_state.char_upload
    with st.sidebar:
        st.subheader("Corpus")
        st.selectbox("Text to learn", CHOICES["char_corpus"], key="char_corpus",
                     format_func=lambda k: CORPORA[k].title if k in CORPORA else
                     (f"Your upload: {upload[0]}" if upload else "Your upload (none yet)"))
        st.file_uploader("Upload a .txt file (UTF-8, up to 5 MB)", type=["txt"], key="char_upload_file",
                         on_change=on_upload, max_upload_size=5)
        st.subheader("Model")
        st.selectbox("Cell", list(CELLS), format_func=CELLS.get, key="char_cell")
        st.select_slider("Hidden size H", CHOICES["char_hidden"], key="char_hidden")
        st.select_slider("Layers", CHOICES["char_layers"], key="char_layers")
        st.subheader("Training")
        st.select_slider("Sequence length T (truncated BPTT)", CHOICES["char_seq"], key="char_seq")
        st.select_slider("Batch size B", CHOICES["char_batch"], key="char_batch")
        st.selectbox("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZERS.get, key="char_optimizer")
        st.select_slider("Learning rate", CHOICES["char_lr"], key="char_lr", format_func="{:g}".format)
        st.select_slider("Clip gradient norm at", CHOICES["char_clip"], key="char_clip",
                         format_func=lambda v: "off" if v == 0 else f"{v:g}")
        st.select_slider("Steps", CHOICES["char_steps"], key="char_steps", format_func="{:,}".format)
    if ss.char_corpus != "upload":
        corpus, text = ss.char_corpus, load_corpus(ss.char_corpus)
    else:
        corpus, text = (f"upload:{upload[0]}:{upload[2]}", upload[1]) if upload else (None, None)
    settings = {field: ss[key] for key, field in CONFIG.items()}
    return corpus, text, tr.TrainConfig(**{**settings, "clip": settings["clip"] or None,
                                           "seed": int(settings["seed"])})


def show_settings(config, corpus=None):
    """Put the controls to a run's settings (and its corpus, when it is still available)."""
    ss = st.session_state
    ss.update({key: getattr(config, field) for key, field in CONFIG.items()})
    ss.char_clip = config.clip or 0.0
    upload = ss.char_upload
    if corpus in CORPORA or upload and corpus == f"upload:{upload[0]}:{upload[2]}":
        ss.char_corpus = corpus if corpus in CORPORA else "upload"


@st.cache_data(max_entries=8, show_spinner="Fitting the n-gram baselines...")
def baseline(corpus, _text):
    """n-gram baselines, keyed by the corpus id (an upload's id holds its digest)."""
    vocab = Vocab.from_text(_text)
    train_ids, val_ids = split(vocab.encode(_text), tr.TrainConfig.val_fraction)
    return best_baseline(train_ids, val_ids, vocab.size)


def start(corpus, text, config):
    ss = st.session_state
    try:
        ss.char_run = tr.new_run(text, config, corpus, baseline(corpus, text))
    except ValueError as err:
        ss.char_notice = ("error", str(err))
        return
    ss.char_run.status = "running"
    snippet = ss.char_run.vocab.decode(ss.char_run.val_ids[:400])
    ss.char_context, ss.char_strip_text, ss.char_prime = snippet[:40], snippet[:240], snippet[:1]


def set_status(status):
    st.session_state.char_run.status = status


def replace_run(run):
    st.session_state.char_run = run


def load_checkpoint_file(corpus, text):
    ss, file = st.session_state, st.session_state.get("char_ckpt_file")
    if file is None:
        return
    try:
        run = tr.load_run(file.getvalue(), text, corpus, baseline(corpus, text))
        outside = [f"{field} = {getattr(run.config, field)}" for key, field in CONFIG.items()
                   if key in CHOICES and (getattr(run.config, field) or 0.0) not in CHOICES[key]]
        if outside:
            raise CheckpointError(f"its settings ({', '.join(outside)}) are not among this page's choices")
    except CheckpointError as err:
        ss.char_notice = ("error", f"{file.name} was not loaded: {err}")
        return
    ss.char_run = run
    show_settings(run.config)
    ss.char_notice = ("success", f"Loaded {file.name} at step {run.step:,}. Press Resume to continue.")


def reconcile(run, corpus, config):
    """Apply changed settings to the run; returns a question if they would discard trained weights."""
    if run is None or run.corpus == corpus and not tr.needs_new_weights(run.config, config):
        if run is not None and run.config != config:
            tr.update_settings(run, config)
        return None
    if run.step == 0:
        st.session_state.char_run = None  # nothing trained yet: rebuilt at Start
        return None
    if run.status == "running":
        run.status = "paused"
    return (f"The model or corpus changed, so the weights trained for {run.step:,} steps would be "
            "thrown away. Discard them and start over, or keep training the old model?")


# --- sections --------------------------------------------------------------------------------

def buttons(corpus, text, config, blocked):
    """Start / Pause / Resume / Reset; all but Pause wait while a question is open."""
    run = st.session_state.char_run
    status = "blocked" if blocked else "none" if run is None else run.status
    cols = st.columns([1, 1, 1, 1, 3])
    cols[0].button("Start", key="char_start", icon=":material/play_arrow:", type="primary",
                   disabled=status not in ("none", "new") or text is None,
                   on_click=start, args=(corpus, text, config))
    cols[1].button("Pause", key="char_pause", icon=":material/pause:", disabled=status != "running",
                   on_click=set_status, args=("paused",))
    cols[2].button("Resume", key="char_resume", icon=":material/resume:",
                   disabled=status not in ("paused", "diverged"), on_click=set_status, args=("running",))
    cols[3].button("Reset", key="char_reset", icon=":material/restart_alt:",
                   disabled=run is None or blocked, on_click=replace_run, args=(None,))
    if text is None:
        cols[4].info("Upload a .txt file in the sidebar, or choose a bundled corpus.")
    elif run is None:
        base, V = baseline(corpus, text), len(set(text))
        cols[4].markdown(f"{len(text):,} characters, V = {V}: uniform guessing has perplexity {V}, "
                         f"the best n-gram ({base.best_n}-gram) {base.best_perplexity:.2f}.")


def live():
    """Runs as a fragment: a short chunk of training, then the numbers, plots and samples."""
    run = st.session_state.char_run
    if run is None:
        return
    if run.status == "running":
        tr.train_for(run, seconds=TICK_SECONDS)
        if run.status != "running":
            st.rerun(scope="app")  # finished or diverged: redraw the buttons, stop the timer
    h, recent = run.history.train, run.history.train["tokens_per_s"][-20:]
    cols = st.columns(4)
    cols[0].metric("Step", f"{run.step:,}")
    cols[1].metric("Train loss", f"{h['loss'][-1]:.3f}" if h["loss"] else "–")
    cols[2].metric("Validation perplexity", f"{run.val_perplexity:.2f}" if run.val_perplexity else "–")
    cols[3].metric("Tokens per second", f"{sum(recent) / len(recent):,.0f}" if recent else "–")
    st.progress(min(run.step / run.config.total_steps, 1.0),
                text=f"{run.status}: step {run.step:,} of {run.config.total_steps:,}")
    left, right = st.columns(2, gap="large")
    with left:
        plots.show(loss_figure(run.history, run.baseline, run.vocab.size, st.session_state.char_metric),
                   key="char_fig_loss")
    with right:
        plots.show(grad_norm_figure(run.history, run.config.clip), key="char_fig_norm")
    st.subheader("Samples during training")
    st.caption(f"Kept at steps {', '.join(map(str, run.config.milestones))}, temperature "
               f"{run.config.sample_temperature:g}, each starting from a newline.")
    for step, sample in run.samples:
        st.markdown(f"**Step {step:,}**")
        st.code(sample, language=None, wrap_lines=True, height=150)


def sample_section(run):
    ss = st.session_state
    st.subheader("Sample on demand")
    cols = st.columns([2, 2, 1])
    cols[0].slider("Temperature", 0.0, 2.0, step=0.05, key="char_temperature",
                   help="Divides the logits before the softmax: low is cautious, 0 is greedy.")
    cols[1].text_input("Priming text", key="char_prime", max_chars=200)
    cols[2].number_input("Length", 10, 2000, step=50, key="char_length")
    if st.button("Sample", key="char_sample", icon=":material/casino:"):
        try:
            ss.char_sampled = ss.char_prime + sample_text(run.model, run.vocab, ss.char_prime,
                                                          ss.char_length, ss.char_temperature, rng=ss.seed)
        except ValueError as err:
            st.warning(f"Cannot sample: {err}")
    if ss.get("char_sampled"):
        st.code(ss.char_sampled, language=None, wrap_lines=True)
    widgets.explain("Text written by the model one character at a time: the priming text sets the hidden "
                    "state, then each sampled character is fed back in as the next input.",
                    "Sample at temperature 0 (greedy: it soon repeats itself), 0.5, 1 and 1.5.")


def inspect_section(run):
    ss = st.session_state
    st.subheader("Inside the model")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.text_input("Context", key="char_context", max_chars=200)
        try:
            probs = next_char_probs(run.model, run.vocab, ss.char_context)
            plots.show(prob_figure(probs, run.vocab), key="char_fig_probs")
        except ValueError as err:
            st.warning(f"Cannot read this context: {err}")
    with right:
        widgets.explain("y = softmax(W_y h + c) after the model has read the context: its guess for the "
                        "next character (↵ is a newline, ␣ a space).",
                        "End the context in the middle of a word, then after a space or a newline.")
    cols = st.columns([4, 1, 1])
    cols[0].text_area("Text to read", key="char_strip_text", max_chars=600, height=100)
    for key, top in (("char_layer", run.model.num_layers), ("char_unit", run.model.hidden_size - 1)):
        ss[key] = max(min(ss.get(key, 1 if key == "char_layer" else 0), top), 1 if key == "char_layer" else 0)
    layer = cols[1].number_input("Layer", 1, run.model.num_layers, key="char_layer") - 1
    unit = cols[2].number_input("Unit", 0, run.model.hidden_size - 1, key="char_unit")
    try:
        acts = hidden_activations(run.model, run.vocab, ss.char_strip_text, layer=layer)
        plots.show(strip_figure(ss.char_strip_text, acts.h[:, unit], unit), key="char_fig_strip")
        st.caption("Units that vary most on this text: " + ", ".join(map(str, most_variable_units(acts.h))))
    except ValueError as err:
        st.warning(f"Cannot read this text: {err}")
    widgets.explain("Each character coloured by one hidden unit's value h after reading it (red +1, "
                    "blue −1), as in Karpathy's visualisations of char-RNNs.",
                    "Try the units listed above; look for ones that switch at line ends, digits or spaces.")


def checkpoint_section(run, corpus, text):
    st.subheader("Checkpoint")
    left, right = st.columns(2, gap="large")
    if run is not None:
        left.download_button("Download checkpoint (.npz)", data=lambda: tr.checkpoint_bytes(run),
                             file_name=f"char-rnn-{run.config.cell}-step{run.step}.npz",
                             mime="application/octet-stream", on_click="ignore", key="char_download",
                             icon=":material/download:")
        left.caption("Weights, optimizer state, position in the text and the curves so far.")
    right.file_uploader("Continue from a checkpoint", type=["npz"], key="char_ckpt_file", max_upload_size=50,
                        on_change=load_checkpoint_file, args=(corpus, text), disabled=text is None)


def render():
    init_state()
    ss = st.session_state
    st.title("Char-RNN")
    st.markdown("A character language model reads a text one character at a time (one-hot x_t) and "
                "predicts the next: y_t = softmax(W_y h_t + c). Its loss is the cross-entropy per "
                "character; perplexity = exp(loss), and uniform guessing has perplexity V.")
    corpus, text, config = controls()
    question = reconcile(ss.char_run, corpus, config)
    if ss.char_notice:  # shown once, after the action that caused it
        (kind, message), ss.char_notice = ss.char_notice, None
        (st.error if kind == "error" else st.success)(widgets.escape_markdown(message))
    if question:
        st.warning(question, icon=":material/help:")
        cols = st.columns([1, 1, 3])
        cols[0].button("Discard and start over", key="char_discard", on_click=replace_run, args=(None,))
        cols[1].button("Keep the old model", key="char_keep", on_click=show_settings,
                       args=(ss.char_run.config, ss.char_run.corpus))
    run = ss.char_run
    if run is not None and run.status == "diverged":
        st.error(run.message, icon=":material/error:")
        st.button(f"Restore the last good checkpoint (step {run.last_good_step:,})", key="char_restore",
                  type="primary", on_click=lambda: replace_run(tr.restore_last_good(run)))
    buttons(corpus, text, config, blocked=bool(question))
    st.radio("Show", ["perplexity", "loss"], key="char_metric", horizontal=True)
    st.fragment(live, run_every=TICK_EVERY if run is not None and run.status == "running" else None)()
    widgets.explain("Left: the training loss of every step (noisy: one batch each) and the loss on held-out "
                    "validation text, against uniform guessing and the best n-gram model counted on the "
                    "training text. Right: the gradient norm before clipping, and the threshold.",
                    "Train an RNN and an LSTM on the arithmetic corpus: only a model that remembers the "
                    "first number can beat the n-gram. Then try a learning rate of 1 without clipping.")
    if run is not None and run.step > 0:
        sample_section(run)
        inspect_section(run)
    checkpoint_section(run, corpus, text)
    sync_url()


if __name__ == "__main__":
    render()
