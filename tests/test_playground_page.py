"""The optimizer playground page, run headless with Streamlit's AppTest."""

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
PAGE = str(DASHBOARD / "views" / "optimizer_playground.py")


def plotly_figures(at):
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def figure_titled(at, starts_with: str) -> dict:
    for spec in plotly_figures(at):
        figure = json.loads(spec)
        if figure["layout"]["title"]["text"].startswith(starts_with):
            return figure
    raise AssertionError(f"no figure titled {starts_with!r}")


@pytest.fixture
def app():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    return at


def test_renders_with_charts_table_and_lesson(app):
    assert not app.error
    specs = plotly_figures(app)
    assert "booth" in specs[0]
    # the map, the animation and the loss curves, each with the three optimizers of the preset
    optimizers = ["sgd (lr 0.01)", "momentum (lr 0.01)", "adam (lr 0.3)"]
    for title in ("Optimizer paths on booth", "Step by step on booth", "Loss per step on booth"):
        figure = figure_titled(app, title)
        assert [t.get("name") for t in figure["data"] if t.get("name") in optimizers] == optimizers, title
    assert len(figure_titled(app, "Step by step on booth")["frames"]) > 1  # it animates
    assert app.sidebar.multiselect(key="playground:entries").value == ["sgd", "momentum", "adam"]
    assert len(app.dataframe) == 1
    assert any("120 steps" in info.value for info in app.info)
    assert any(button.label == "Download the paths (CSV)" for button in app.get("download_button"))


def test_changing_preset_and_surface_changes_the_picture(app):
    before = plotly_figures(app)[0]
    app.sidebar.selectbox(key="playground:preset").set_value("divergence").run()
    assert not app.exception
    after = plotly_figures(app)[0]
    assert after != before and "rosenbrock" in after
    assert app.sidebar.number_input(key="playground:start_x").value == -1.5
    assert app.sidebar.multiselect(key="playground:entries").value == ["momentum", "momentum #2", "adam"]
    assert any("diverged" in warning.value.lower() for warning in app.warning)

    app.sidebar.selectbox(key="playground:surface").set_value("himmelblau").run()
    assert not app.exception
    assert "himmelblau" in plotly_figures(app)[0]


def test_a_start_off_the_new_map_moves_to_the_surfaces_own_start(app):
    assert (app.sidebar.number_input(key="playground:start_x").value,
            app.sidebar.number_input(key="playground:start_y").value) == (8.0, -8.0)  # the tutorial, on booth
    app.sidebar.selectbox(key="playground:surface").set_value("saddle").run()
    assert not app.exception
    assert (app.sidebar.number_input(key="playground:start_x").value,
            app.sidebar.number_input(key="playground:start_y").value) == (1.0, 0.001)
    assert any("outside the saddle map" in info.value for info in app.info)
    contour = figure_titled(app, "Optimizer paths on saddle")
    starts = [trace for trace in contour["data"] if trace.get("name") == "start"][0]
    x_range, y_range = contour["layout"]["xaxis"]["range"], contour["layout"]["yaxis"]["range"]
    assert x_range[0] <= starts["x"][0] <= x_range[1] and y_range[0] <= starts["y"][0] <= y_range[1]
    # a start that fits the next map stays where the user put it
    app.sidebar.number_input(key="playground:start_x").set_value(0.5)
    app.sidebar.number_input(key="playground:start_y").set_value(-1.0).run()
    app.sidebar.selectbox(key="playground:surface").set_value("himmelblau").run()
    assert (app.sidebar.number_input(key="playground:start_x").value,
            app.sidebar.number_input(key="playground:start_y").value) == (0.5, -1.0)
    assert not any("outside" in info.value for info in app.info)


def test_legends_tell_entries_of_one_optimizer_apart(app):
    app.sidebar.selectbox(key="playground:preset").set_value("momentum-overshoots").run()
    assert not app.exception
    contour = figure_titled(app, "Optimizer paths on booth")
    names = [trace["name"] for trace in contour["data"] if trace.get("name", "").startswith("momentum")]
    assert names == ["momentum (lr 0.01, momentum 0.5)", "momentum (lr 0.01, momentum 0.9)",
                     "momentum (lr 0.01, momentum 0.99)"]
    send = app.selectbox(key="playground:send")  # AppTest lists the options as shown
    assert send.options == ["sgd (lr 0.01)", *names]


def test_bad_values_show_an_error_not_an_exception(app):
    app.sidebar.number_input(key="playground:lr:adam").set_value(-0.5).run()
    assert not app.exception
    assert any("learning rate" in error.value.lower() for error in app.error)

    app.sidebar.number_input(key="playground:lr:adam").set_value(0.3)
    app.sidebar.number_input(key="playground:start_x").set_value(1e9).run()
    assert not app.exception
    assert any("start" in error.value.lower() for error in app.error)


def test_no_optimizer_selected_is_a_warning(app):
    app.sidebar.multiselect(key="playground:entries").set_value([]).run()
    assert not app.exception and app.warning


def test_train_button_hands_every_setting_to_training(app):
    app.sidebar.selectbox(key="playground:preset").set_value("momentum-overshoots").run()
    app.selectbox(key="playground:send").set_value("momentum #3").run()
    next(b for b in app.button if "Train the CNN" in b.label).click().run()
    assert not app.exception
    assert app.session_state["playground_to_training"] == {
        "optimizer": "momentum", "lr": 0.01, "momentum": 0.99, "beta1": None, "beta2": None, "rho": None,
        "epsilon": None}
    # run on its own, the page has no Activations page to open: it says where to go instead
    assert any("Activations" in s.value for s in app.success)


def test_adam_handoff_carries_its_betas(app):
    app.sidebar.number_input(key="playground:beta2:adam").set_value(0.99).run()
    app.selectbox(key="playground:send").set_value("adam").run()
    next(b for b in app.button if "Train the CNN" in b.label).click().run()
    assert app.session_state["playground_to_training"] == {
        "optimizer": "adam", "lr": 0.3, "momentum": None, "beta1": 0.9, "beta2": 0.99, "rho": None,
        "epsilon": 1e-7}


def test_train_button_opens_the_activations_page_in_the_app():
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=180)
    at.session_state["activations:batch_size"] = 16  # keep the network the Activations page builds small
    at.run()  # the app registers its pages (st.navigation) on the first run
    at.switch_page("views/optimizer_playground.py").run()
    assert not at.exception
    at.sidebar.selectbox(key="playground:preset").set_value("momentum-overshoots").run()
    at.selectbox(key="playground:send").set_value("momentum #3").run()
    next(b for b in at.button if "Train the CNN" in b.label).click().run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith("Activations")
    assert at.session_state["activations:optimizer"] == "momentum" and at.session_state["activations:lr"] == 0.01
    notes = " ".join(info.value for info in at.info)
    assert "optimizer playground" in notes and "momentum = 0.99" in notes


def test_basin_map_section(app):
    app.sidebar.selectbox(key="playground:preset").set_value("divergence").run()
    app.toggle(key="playground:show_basins").set_value(True).run()
    assert not app.exception
    app.select_slider(key="playground:basin_grid").set_value(16)
    app.number_input(key="playground:basin_steps").set_value(150).run()
    assert not app.exception
    figure = figure_titled(app, "Basins of attraction")
    assert figure["data"][0]["type"] == "heatmap"
    names = [trace.get("name") for trace in figure["data"]]
    assert "diverged" in names and "minimum (1, 1)" in names  # momentum lr 0.01 on rosenbrock: both happen
    assert any("Of 256 starts" in caption.value for caption in app.caption)
    assert any(button.label == "Download the basin map (CSV)" for button in app.get("download_button"))
    app.number_input(key="playground:basin_steps").set_value(5000)
    app.select_slider(key="playground:basin_grid").set_value(64).run()
    assert not app.exception
    assert any("too much work" in error.value for error in app.error)
