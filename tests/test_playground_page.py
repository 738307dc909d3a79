"""The optimizer playground page, run headless with Streamlit's AppTest."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "optimizer_playground.py")


def plotly_figures(at):
    return [chart.proto.spec for chart in at.get("plotly_chart")]


@pytest.fixture
def app():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    return at


def test_renders_with_charts_table_and_lesson(app):
    assert not app.error
    specs = plotly_figures(app)
    assert len(specs) >= 3  # contour, animation, loss
    assert "booth" in specs[0]
    assert app.sidebar.multiselect(key="playground:entries").value == ["sgd", "momentum", "adam"]
    assert len(app.dataframe) == 1
    assert any("120 steps" in info.value for info in app.info)
    assert app.get("download_button")


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


def test_train_button_hands_settings_to_training(app):
    app.selectbox(key="playground:send").set_value("adam").run()
    next(b for b in app.button if "Train the CNN" in b.label).click().run()
    assert not app.exception
    assert app.session_state["playground_to_training"] == {"optimizer": "adam", "lr": 0.3}
    assert any("Activations" in s.value for s in app.success)
