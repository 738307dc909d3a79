"""AppTest: plain-net controls in the sidebar, the backward-signal chart, the Compare page's depth view,
and a deep-net lesson opened from the Lessons page."""

from __future__ import annotations

import apptest_pages
from apptest_pages import charts
from streamlit.testing.v1 import AppTest

TIMEOUT = 180


def page(path: str, **session) -> AppTest:
    return apptest_pages.page(path, TIMEOUT, **session)


def test_plain_net_controls_appear_only_for_plain_nets_and_reach_the_run():
    at = page("views/activations.py", **{"activations:batch_size": 16}).run()
    assert not at.exception
    assert not [w for w in at.number_input if w.key == "activations:depth"]  # ltfn_convnet: no depth control
    at.selectbox(key="activations:arch").set_value("plain_cnn").run()
    assert not at.exception
    # Picking plain_cnn proposes its own defaults (32 channels, not the MLP's 256 units).
    assert at.number_input(key="activations:width").value == 32
    at.number_input(key="activations:depth").set_value(3)
    at.selectbox(key="activations:activation").set_value("tanh")
    at.selectbox(key="activations:norm").set_value("batch")
    at.toggle(key="activations:residual").set_value(True)
    at.button(key="activations:reset").click().run()
    assert not at.exception
    config = at.session_state["cnnviz:run"].config
    assert (config.arch, config.depth, config.width, config.activation, config.norm, config.residual) == \
        ("plain_cnn", 3, 32, "tanh", "batch", True)
    assert "3 conv layers (3x3) × 32 channels, tanh, batch norm, residual skips" in " ".join(c.value for c in at.caption)
    backward = next(fig for title, fig in charts(at).items() if title.startswith("Backward signal per layer"))
    assert backward["layout"]["yaxis"]["type"] == "log"
    title = backward["layout"]["title"]
    shown = title["text"] + " " + (title.get("subtitle") or {}).get("text", "")
    assert "no theory line" in shown  # batch norm: the rule does not apply
    # The controls keep to the ranges RunConfig accepts (depth 1..100, width 1..4096).
    depth = at.number_input(key="activations:depth")
    assert (depth.proto.min, depth.proto.max) == (1, 100)
    width = at.number_input(key="activations:width")
    assert (width.proto.min, width.proto.max) == (1, 4096)


def test_backward_chart_draws_the_theory_for_a_plain_mlp():
    at = page("views/activations.py", **{"activations:batch_size": 32, "activations:arch": "plain_mlp",
                                         "activations:depth": 4, "activations:width": 64,
                                         "activations:activation": "tanh",
                                         "activations:init": "standard-uniform"}).run()
    assert not at.exception
    backward = next(fig for title, fig in charts(at).items() if title.startswith("Backward signal per layer"))
    theory = [t for t in backward["data"] if t["name"] == "theory (step 0)"]
    assert theory and theory[0]["line"]["dash"] == "dash" and len(theory[0]["x"]) == 5


def test_compare_page_depth_view_with_theory():
    at = page("views/compare_inits.py", **{"compare:batch_size": 32, "compare:arch": "plain_mlp",
                                           "compare:depth": 20, "compare:width": 64, "compare:activation": "relu",
                                           "compare:inits": ["glorot-uniform", "he-normal"]}).run()
    assert not at.exception
    depth = next(fig for title, fig in charts(at).items() if title.startswith("Depth view"))
    assert [t["name"] for t in depth["data"]] == ["glorot-uniform (measured)", "glorot-uniform (theory)",
                                                  "he-normal (measured)", "he-normal (theory)"]
    assert depth["layout"]["yaxis"]["type"] == "log" and max(depth["data"][0]["x"]) == 21


def test_a_deep_net_lesson_sets_every_plain_control():
    at = page("app.py").run()
    at.button(key="lesson:tanh-500").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare initializers"
    state = at.session_state
    assert (state["compare:arch"], state["compare:depth"], state["compare:width"], state["compare:activation"]) == \
        ("plain_mlp", 10, 500, "tanh")
    assert state["compare:inits"] == ["normal-0.01", "normal", "lecun-normal"] and state["compare:steps"] == 50
    assert any(title.startswith("Depth view") for title in charts(at))
