"""The app shell with AppTest: navigation, shared sidebar, query parameters, notation, banner."""
from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit import material_icon_names
from streamlit.testing.v1 import AppTest

from harness import no_exceptions, page_file, plotly_specs, run_page
from lab_ui import nav, notation, plots, state, widgets


def sidebar_seed(at: AppTest) -> int:
    return at.sidebar.number_input(key="seed").value


def test_home_runs_without_exception_and_shows_notation_card():
    at = run_page(nav.HOME.path)
    no_exceptions(at)
    markdown = "\n".join(element.value for element in at.markdown)
    assert "Notation card" in markdown
    for name in notation.SYMBOLS:  # every row of the translation table, in all three notations
        for key in notation.NOTATIONS:
            assert f"`{notation.symbol(name, key)}`" in markdown
    latex = [element.value.strip("$\n") for element in at.latex]  # st.latex wraps in $$
    assert list(notation.EQUATIONS) + [notation.GRU_UPDATE] == latex


def test_home_links_every_existing_page_in_learning_path_order():
    at = run_page(nav.HOME.path)
    links = at.get("page_link")
    expected = [spec for spec in nav.existing_pages() if spec is not nav.HOME]
    assert [link.proto.label for link in links] == [spec.title for spec in expected]
    assert [link.proto.icon for link in links] == [spec.icon for spec in expected]


def test_learning_path_has_stable_url_paths_and_material_icons():
    assert [spec.url_path for spec in nav.LEARNING_PATH] == [
        "", "unroll", "gradient-flow", "gates", "char-rnn", "exercises"]
    assert [spec.title for spec in nav.LEARNING_PATH] == [
        "Home", "Unroll", "Gradient flow", "Gates", "Char-RNN", "Exercises"]
    for spec in nav.LEARNING_PATH:
        match = re.fullmatch(r":material/([a-z0-9_]+):", spec.icon)
        assert match, f"{spec.title}: icon {spec.icon!r} is not :material/<name>:"
        assert match.group(1) in material_icon_names.ALL_MATERIAL_ICONS, spec.icon


def test_page_file_maps_url_paths_to_files():
    assert page_file("") == nav.HOME.path
    assert page_file("gradient-flow") == f"{nav.PAGES_DIR}/gradient_flow.py"
    with pytest.raises(ValueError, match="url_path must be one of"):
        page_file("nowhere")


def test_seed_query_param_lands_in_session_state_and_sidebar():
    at = run_page(nav.HOME.path, query={"seed": 7})
    no_exceptions(at)
    assert at.session_state["seed"] == 7
    assert sidebar_seed(at) == 7


@pytest.mark.parametrize("bad", ["abc", "-5", "7.5", str(state.SEED_MAX + 1), ""])
def test_bad_seed_query_param_is_ignored_without_exception(bad):
    at = run_page(nav.HOME.path, query={"seed": bad})
    no_exceptions(at)
    assert at.session_state["seed"] == 0
    assert sidebar_seed(at) == 0


def test_notation_query_param_selects_notation_and_bad_one_is_ignored():
    at = run_page(nav.HOME.path, query={"notation": "textbook"})
    assert at.sidebar.selectbox(key="notation").value == "textbook"
    at = run_page(nav.HOME.path, query={"notation": "klingon"})
    no_exceptions(at)
    assert at.sidebar.selectbox(key="notation").value == "course"


def _symbol_page():
    import streamlit as st

    from lab_ui import widgets

    widgets.sidebar()
    st.markdown(f"W_x={widgets.sym('W_x')}; W_h={widgets.sym('W_h')}; W_y={widgets.sym('W_y')}")
    st.markdown(f"latex={widgets.sym('W_h', latex=True)}")


def test_notation_selector_changes_symbol_helper():
    at = AppTest.from_function(_symbol_page, default_timeout=30).run()
    assert at.markdown[0].value == "W_x=W_x; W_h=W_h; W_y=W_y"
    at.sidebar.selectbox(key="notation").select("textbook").run()
    assert at.markdown[0].value == "W_x=U; W_h=W; W_y=V"
    at.sidebar.selectbox(key="notation").select("pytorch").run()
    no_exceptions(at)
    assert at.markdown[0].value == "W_x=weight_ih_l0; W_h=weight_hh_l0; W_y=fc.weight"
    assert at.markdown[1].value == r"latex=\mathrm{weight\_hh\_l0}"


def test_notation_card_marks_the_selected_notation():
    at = run_page(nav.HOME.path)
    at.sidebar.selectbox(key="notation").select("pytorch").run()
    table = next(element.value for element in at.markdown if element.value.startswith("| Meaning"))
    assert "PyTorch (selected)" in table and "Course (selected)" not in table


def test_symbol_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        notation.symbol("U")
    with pytest.raises(ValueError, match="notation must be one of"):
        notation.symbol("W_x", "klingon")


# --- page state: defaults, deep links, URL sync ----------------------------------------------

def _controls_page():
    import streamlit as st

    from lab_ui import state

    state.init_defaults({"hidden": 4, "lr": 0.1, "clip": True, "cell": "rnn", "window": (2, 5)},
                        allowed={"hidden": (2, 8), "cell": ["rnn", "lstm", "gru"]})
    st.slider("Hidden size", 2, 8, key="hidden")
    st.number_input("Learning rate", key="lr", format="%.4f")
    st.checkbox("Clip", key="clip")
    st.selectbox("Cell", ["rnn", "lstm", "gru"], key="cell")
    st.slider("Window", 0, 10, key="window")
    state.sync_query_params(["hidden", "lr", "clip", "cell", "window"])


def _page_or_elsewhere():
    import streamlit as st

    from lab_ui import state

    if st.session_state.get("elsewhere"):  # another page is open: these controls are not drawn
        st.write("another page")
        return
    state.init_defaults({"hidden": 4}, allowed={"hidden": (2, 8)})
    st.slider("Hidden size", 2, 8, key="hidden")


def test_controls_keep_their_values_after_a_trip_to_another_page():
    at = AppTest.from_function(_page_or_elsewhere, default_timeout=30)
    at.run()
    at.slider(key="hidden").set_value(7).run()
    at.session_state["elsewhere"] = True
    at.run()
    at.run()
    assert "hidden" not in at.session_state  # Streamlit dropped the undrawn widget's value
    at.session_state["elsewhere"] = False
    at.run()
    assert at.slider(key="hidden").value == 7


def test_deep_link_sets_initial_values_of_page_controls():
    at = AppTest.from_function(_controls_page, default_timeout=30)
    for key, value in {"hidden": "6", "lr": "0.01", "clip": "false", "cell": "gru",
                       "window": "3,7", "seed": "11"}.items():
        at.query_params[key] = value
    at.run()
    no_exceptions(at)
    assert at.slider(key="hidden").value == 6
    assert at.number_input(key="lr").value == pytest.approx(0.01)
    assert at.checkbox(key="clip").value is False
    assert at.selectbox(key="cell").value == "gru"
    assert at.slider(key="window").value == (3, 7)
    assert at.session_state["seed"] == 11


def test_bad_deep_link_values_fall_back_to_defaults_without_exception():
    at = AppTest.from_function(_controls_page, default_timeout=30)
    for key, value in {"hidden": "99", "lr": "nan", "clip": "maybe", "cell": "transformer",
                       "window": "3", "seed": "abc"}.items():
        at.query_params[key] = value
    at.run()
    no_exceptions(at)
    assert at.slider(key="hidden").value == 4
    assert at.number_input(key="lr").value == pytest.approx(0.1)
    assert at.checkbox(key="clip").value is True
    assert at.selectbox(key="cell").value == "rnn"
    assert at.slider(key="window").value == (2, 5)
    assert at.session_state["seed"] == 0


def test_sync_query_params_writes_current_values_so_url_reproduces_state():
    at = AppTest.from_function(_controls_page, default_timeout=30).run()
    assert dict(at.query_params) == {"seed": "0", "hidden": "4", "lr": "0.1",
                                     "clip": "true", "cell": "rnn", "window": "2,5"}
    at.slider(key="hidden").set_value(7).run()
    at.selectbox(key="cell").select("lstm").run()
    assert at.query_params["hidden"] == "7" and at.query_params["cell"] == "lstm"
    # The URL just written, opened as a new session, reproduces the state.
    again = AppTest.from_function(_controls_page, default_timeout=30)
    for key, value in at.query_params.items():
        again.query_params[key] = value
    again.run()
    for key in ("hidden", "lr", "clip", "cell", "window", "seed"):
        assert again.session_state[key] == at.session_state[key], key


@pytest.mark.parametrize("raw, default, allowed, expected", [
    ("12", 0, None, 12),
    ("1e3", 0, None, 0),             # an int control takes integers only
    ("0.25", 1.0, None, 0.25),
    ("inf", 1.0, None, 1.0),
    ("3", 1.0, (0.0, 2.0), 1.0),     # outside the bounds
    ("ON", False, None, True),
    ("0", True, None, False),
    ("lstm", "rnn", ["rnn", "lstm"], "lstm"),
    ("x" * (state.MAX_TEXT + 1), "rnn", None, "rnn"),
    ("64", 32, [32, 64, 128], 64),   # a list is a set of options, not bounds
    ("1, 4", (0, 2), (0, 8), (1, 4)),
    ("1,9", (0, 2), (0, 8), (0, 2)),
    (None, 5, None, 5),
])
def test_parse_value_parses_by_default_type_and_ignores_bad_values(raw, default, allowed, expected):
    assert state.parse_value(raw, default, allowed) == expected


@pytest.mark.parametrize("value", [0, 7, -3, 0.1, 1e-5, True, False, "gru", (1, 4), (0.5, 2.0)])
def test_format_value_round_trips_through_parse_value(value):
    assert state.parse_value(state.format_value(value), type(value)() if not isinstance(
        value, tuple) else tuple(type(v)() for v in value)) == value


# --- plots and the Plotly decoder ---------------------------------------------------------------

def _plot_page():
    import numpy as np

    from lab_ui import plots

    z = np.arange(12, dtype=np.float64).reshape(3, 4) - 4.0   # signed: -4 .. 7
    plots.show(plots.heatmap(z, title="signed"))
    plots.show(plots.heatmap(np.abs(z).astype(np.float32), title="magnitude"))


def test_plotly_specs_decodes_heatmaps_with_diverging_scale_centred_at_zero():
    at = AppTest.from_function(_plot_page, default_timeout=30).run()
    no_exceptions(at)
    signed, magnitude = plotly_specs(at)
    z = np.arange(12, dtype=np.float64).reshape(3, 4) - 4.0
    trace = signed["data"][0]
    np.testing.assert_array_equal(np.asarray(trace["z"]), z)   # exact: a float64 round trip
    assert (trace["zmid"], trace["zmin"], trace["zmax"]) == (0.0, -7.0, 7.0)
    assert signed["layout"]["yaxis"]["autorange"] == "reversed"  # row 0 on top, like a matrix
    assert signed["layout"]["font"]["size"] == plots.FONT_SIZE
    np.testing.assert_array_equal(np.asarray(magnitude["data"][0]["z"]), np.abs(z))
    assert "zmid" not in magnitude["data"][0]
    assert [c[1] for c in trace["colorscale"]] != [c[1] for c in magnitude["data"][0]["colorscale"]]


def test_heatmap_rejects_arrays_that_are_not_matrices():
    with pytest.raises(ValueError, match="z must be a 1-D or 2-D array"):
        plots.heatmap(np.zeros((2, 2, 2)))


# --- exercise banner ---------------------------------------------------------------------------

def test_exercise_banner_shows_title_and_instructions_as_literal_text():
    hostile = "**bold** :red[x] <b>tag</b> $x^2$ [link](http://evil) `code`"
    at = run_page(nav.HOME.path, session={"exercise": {"title": "Ex 1: " + hostile,
                                                           "instructions": hostile}})
    no_exceptions(at)
    banners = at.sidebar.info
    assert len(banners) == 1
    body = banners[0].value
    escaped = widgets.escape_markdown(hostile)
    assert body == f"**{widgets.escape_markdown('Ex 1: ' + hostile)}**\n\n{escaped}"
    # Every markdown-active character arrives backslash-escaped.
    for raw in ("*", "[", "]", "(", ")", "<", ">", "$", ":", "`"):
        assert raw not in re.sub(r"\\.", "", escaped), raw


def test_no_exercise_banner_without_an_exercise():
    at = run_page(nav.HOME.path)
    assert len(at.sidebar.info) == 0


# --- the multipage scheme ----------------------------------------------------------------------

def test_no_folder_named_pages_beside_app_py():
    # Such a folder switches Streamlit to its legacy multipage mode for a fresh server's first
    # deep link (see lab_ui/nav.py); the pages live in views/ instead.
    assert not (nav.REPO_ROOT / "pages").exists()
    assert all(spec.path.startswith(f"{nav.PAGES_DIR}/") for spec in nav.LEARNING_PATH)
