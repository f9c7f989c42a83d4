"""The Char-RNN page with AppTest: Start / ticks / Pause / Resume / Reset, uploads, NaN, settings,
checkpoints, sampling and inspection. AppTest never fires run_every: each at.run() is one tick."""
import numpy as np
import pytest

from harness import no_exceptions, plotly_specs, run_page
from rnn_core import training as tr
from rnn_core.sampling import next_char_probs, sample_text

PAGE = "views/char_rnn.py"
SMALL = {"corpus": "arithmetic", "cell": "gru", "hidden": 32, "seq": 16, "batch": 8}  # fast ticks


def start(query=SMALL):
    at = run_page(PAGE, query=query)
    no_exceptions(at)
    at.button(key="char_start").click().run()
    no_exceptions(at)
    return at


def run_of(at):
    return at.session_state["char_run"]


def loss_chart(at):
    return next(spec for spec in plotly_specs(at) if spec["layout"]["title"]["text"] in ("Perplexity", "Loss"))


def errors(at):
    """The text of every st.error, without the markdown escapes the page adds to user text."""
    return " ".join(e.value for e in at.error).replace("\\", "")


def test_start_ticks_pause_resume_and_reset_drive_the_loss_series():
    at = start()
    lengths = []
    for _ in range(3):
        at.run()
        no_exceptions(at)
        lengths.append(len(loss_chart(at)["data"][0]["x"]))
    assert lengths[0] > 0 and lengths[0] < lengths[1] < lengths[2]  # every tick adds points
    assert lengths[-1] == run_of(at).step

    at.button(key="char_pause").click().run()
    paused_at = run_of(at).step
    at.run().run()
    assert run_of(at).status == "paused" and run_of(at).step == paused_at
    assert len(loss_chart(at)["data"][0]["x"]) == paused_at
    assert at.button(key="char_resume").disabled is False and at.button(key="char_pause").disabled

    at.button(key="char_resume").click().run()
    at.run()
    assert run_of(at).status == "running" and run_of(at).step > paused_at

    at.button(key="char_reset").click().run()
    no_exceptions(at)
    assert run_of(at) is None and not any(s["layout"]["title"]["text"] == "Perplexity"
                                          for s in plotly_specs(at))
    assert at.button(key="char_start").disabled is False


def test_chart_shows_uniform_and_ngram_baselines():
    at = start()
    at.run()
    run = run_of(at)
    traces = {t["name"]: t for t in loss_chart(at)["data"]}
    uniform = traces[f"uniform (V = {run.vocab.size})"]["y"]
    ngram = traces[f"best n-gram (n = {run.baseline.best_n})"]["y"]
    assert list(uniform) == [run.vocab.size] * 2
    assert list(ngram) == pytest.approx([run.baseline.best_perplexity] * 2)
    assert len(traces["train"]["x"]) == run.step


def test_deep_link_sets_controls_and_bad_values_fall_back():
    at = run_page(PAGE, query={"corpus": "python", "cell": "rnn", "hidden": 64, "lr": 0.01, "seed": 3})
    no_exceptions(at)
    assert at.sidebar.selectbox(key="char_corpus").value == "python"
    assert at.sidebar.selectbox(key="char_cell").value == "rnn"
    assert at.sidebar.select_slider(key="char_hidden").value == 64
    assert at.sidebar.select_slider(key="char_lr").value == 0.01
    at = run_page(PAGE, query={"corpus": "upload", "cell": "transformer", "hidden": 100})
    no_exceptions(at)
    assert at.sidebar.selectbox(key="char_corpus").value == "stories"
    assert at.sidebar.selectbox(key="char_cell").value == "lstm"
    assert at.sidebar.select_slider(key="char_hidden").value == 128
    assert at.query_params["cell"] == "lstm" and at.query_params["corpus"] == "stories"


@pytest.mark.parametrize("name,data,message", [
    ("empty.txt", b"", "The file is empty"),
    ("image.txt", bytes(range(256)) * 8, "looks like a binary file"),
    ("latin1.txt", "Café crème brûlée. ".encode("latin-1") * 100, "not UTF-8"),
    ("huge.txt", b"abc " * 1_300_000, "the limit is 5 MB"),
])
def test_bad_upload_shows_the_reason_and_keeps_the_previous_corpus(name, data, message):
    at = run_page(PAGE, query={"corpus": "arithmetic"})
    at.sidebar.file_uploader(key="char_upload_file").set_value((name, data, "text/plain")).run()
    no_exceptions(at)
    assert message in errors(at)
    assert at.sidebar.selectbox(key="char_corpus").value == "arithmetic"
    assert at.session_state["char_upload"] is None


def test_good_upload_becomes_the_corpus_and_user_text_is_escaped_in_plots():
    text = "<b>bold</b> & <i>x</i>\n" * 60  # 1,380 characters with markup characters in them
    at = run_page(PAGE, query={"hidden": 32, "seq": 16, "batch": 8, "cell": "rnn"})
    at.sidebar.file_uploader(key="char_upload_file").set_value(("tags.txt", text.encode(), "text/plain")).run()
    no_exceptions(at)
    assert at.sidebar.selectbox(key="char_corpus").value == "upload"
    assert "Loaded tags.txt" in " ".join(s.value for s in at.success).replace("\\", "")
    at.button(key="char_start").click().run()
    assert run_of(at).corpus.startswith("upload:tags.txt:")
    at.text_area(key="char_strip_text").set_value("<b>&").run()
    no_exceptions(at)
    strip = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"].startswith("Hidden unit"))
    assert list(strip["data"][1]["text"]) == ["&lt;", "b", "&gt;", "&amp;"]


def test_injected_nan_pauses_training_says_step_and_norm_and_restores():
    at = start({**SMALL, "cell": "rnn"})
    while run_of(at).step <= 100:  # past the first "last good" snapshot, at step 100
        at.run()
    run = run_of(at)
    run.model.params["l0.W_h"][0, 0] = np.nan  # the test hook: a weight poisoned in the session
    at.run()
    no_exceptions(at)
    run = run_of(at)
    assert run.status == "diverged"
    message = errors(at)
    assert f"step {run.step + 1:,}" in message and "gradient norm nan" in message
    assert at.button(key="char_resume").disabled is False
    kept = run.last_good_step
    assert kept >= 100 and kept % 100 == 0  # a snapshot every 100 steps

    at.button(key="char_restore").click().run()
    no_exceptions(at)
    restored = run_of(at)
    assert restored.status == "paused" and restored.step == kept
    assert all(np.isfinite(p).all() for p in restored.model.params.values())
    assert errors(at) == ""


def test_changing_the_model_after_training_asks_before_discarding_weights():
    at = start()
    at.run()
    at.button(key="char_pause").click().run()
    trained = run_of(at)
    at.sidebar.select_slider(key="char_hidden").set_value(64).run()
    no_exceptions(at)
    assert "thrown away" in at.warning[0].value
    assert run_of(at) is trained and trained.model.hidden_size == 32
    assert at.button(key="char_resume").disabled and at.button(key="char_start").disabled

    at.button(key="char_keep").click().run()
    assert at.sidebar.select_slider(key="char_hidden").value == 32 and run_of(at) is trained
    assert not at.warning

    at.sidebar.selectbox(key="char_cell").select("lstm").run()
    at.button(key="char_discard").click().run()
    no_exceptions(at)
    assert run_of(at) is None and at.button(key="char_start").disabled is False


def test_learning_rate_and_steps_change_without_losing_weights():
    at = start()
    at.run()
    at.button(key="char_pause").click().run()
    run, step = run_of(at), run_of(at).step
    at.sidebar.select_slider(key="char_lr").set_value(0.01).run()
    at.sidebar.select_slider(key="char_steps").set_value(300).run()
    no_exceptions(at)
    assert run_of(at) is run and run.step == step
    assert run.optimizer.lr == 0.01 and run.config.total_steps == 300 and not at.warning


def test_checkpoint_upload_continues_training_and_bad_files_are_refused():
    at = start()
    at.run()
    data = tr.checkpoint_bytes(run_of(at))
    step = run_of(at).step
    at.button(key="char_reset").click().run()

    at.file_uploader(key="char_ckpt_file").set_value(("bad.npz", b"not a checkpoint", "application/zip")).run()
    assert "bad.npz was not loaded" in errors(at) and run_of(at) is None

    at.file_uploader(key="char_ckpt_file").set_value(("good.npz", data, "application/zip")).run()
    no_exceptions(at)
    assert run_of(at).step == step and run_of(at).status == "paused"
    assert at.sidebar.select_slider(key="char_hidden").value == 32
    at.button(key="char_resume").click().run()
    assert run_of(at).step > step

    at.sidebar.selectbox(key="char_corpus").select("stories").run()  # another vocabulary
    at.button(key="char_discard").click().run()
    at.file_uploader(key="char_ckpt_file").set_value(("again.npz", data, "application/zip")).run()
    assert "vocabulary" in errors(at) and run_of(at) is None


def test_sample_on_demand_and_next_character_probabilities():
    at = start()
    at.run()
    at.button(key="char_pause").click().run()
    at.text_input(key="char_prime").set_value("12+").run()
    at.number_input(key="char_length").set_value(60).run()
    at.slider(key="char_temperature").set_value(0.0).run()
    at.button(key="char_sample").click().run()
    no_exceptions(at)
    run = run_of(at)
    expected = sample_text(run.model, run.vocab, "12+", 60, 0.0)
    assert at.code[-1].value == ("12+" + expected).rstrip("\n")  # st.code drops a final newline

    at.text_input(key="char_context").set_value("7+5=").run()
    bars = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"].startswith("Next character"))
    probs = next_char_probs(run.model, run.vocab, "7+5=")
    assert bars["data"][0]["y"][0] == pytest.approx(probs.max())
    at.text_input(key="char_context").set_value("x?").run()
    no_exceptions(at)
    assert "not in the vocabulary" in at.warning[0].value


def test_upload_too_short_for_the_batch_says_so_at_start_and_trains_nothing():
    text = "the quick brown fox jumps over the lazy dog\n" * 30  # 1,320 characters
    at = run_page(PAGE, query={"batch": 64, "seq": 128})
    at.sidebar.file_uploader(key="char_upload_file").set_value(("fox.txt", text.encode(), "text/plain")).run()
    at.button(key="char_start").click().run()
    no_exceptions(at)
    assert "too short for batch_size=64 and seq_len=128" in errors(at)
    assert run_of(at) is None
