"""lab_ui.char_rnn_figures: what the live charts plot, read back from the figures' JSON."""
import json
import math

import numpy as np
import pytest

from harness import _decode
from lab_ui.char_rnn_figures import grad_norm_figure, loss_figure, shown
from rnn_core.training import History


def spec(fig):
    return _decode(json.loads(fig.to_json()))  # what st.plotly_chart sends, typed arrays decoded


@pytest.fixture
def history():
    h = History()
    for step, (loss, norm) in enumerate([(4.0, 2.0), (3.0, math.inf), (2.5, 0.5)], start=1):
        h.add_train(step, loss, norm, 1e5)
    h.add_val(3, 2.75)
    return h


def test_perplexity_is_exp_of_loss_with_baselines_over_the_steps(history):
    base = type("Base", (), {"best_perplexity": 7.5, "best_n": 3})()
    traces = {t["name"]: t for t in spec(loss_figure(history, base, 40, "perplexity"))["data"]}
    np.testing.assert_allclose(traces["train"]["y"], np.exp([4.0, 3.0, 2.5]), rtol=1e-15)
    np.testing.assert_allclose(traces["validation"]["y"], [math.exp(2.75)], rtol=1e-15)
    assert list(traces["uniform (V = 40)"]["x"]) == [1, 3]
    assert list(traces["uniform (V = 40)"]["y"]) == [40, 40]
    assert list(traces["best n-gram (n = 3)"]["y"]) == [7.5, 7.5]


def test_loss_view_plots_nats_with_log_of_the_baselines(history):
    fig = spec(loss_figure(history, None, 40, "loss"))
    traces = {t["name"]: t for t in fig["data"]}
    assert list(traces["train"]["y"]) == [4.0, 3.0, 2.5]
    assert traces["uniform (V = 40)"]["y"][0] == pytest.approx(math.log(40))
    assert fig["layout"]["yaxis"].get("type") != "log"


def test_gradient_norm_leaves_a_gap_where_the_norm_overflowed(history):
    traces = spec(grad_norm_figure(history, 1.0))["data"]
    norm = np.asarray(traces[0]["y"], dtype=float)
    assert norm[0] == 2.0 and np.isnan(norm[1]) and norm[2] == 0.5
    assert traces[1]["name"] == "threshold 1" and list(traces[1]["y"]) == [1.0, 1.0]
    assert len(spec(grad_norm_figure(history, 0.0))["data"]) == 1  # no clipping, no threshold line


def test_shown_makes_whitespace_visible_and_escapes_markup():
    assert [shown(c) for c in " \n\t<a"] == ["␣", "↵", "⇥", "&lt;", "a"]
