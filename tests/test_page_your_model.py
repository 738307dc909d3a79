"""The Your model page answers the controls above it (issue 12, issue 11 items 5 and 8).

Real Keras models saved into tmp_path (scripts/make_test_models.py and a Rescaling model
built here), loaded through the page's uploader in AppTest sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from scripts import make_test_models as models

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "your_model.py")
RUN, BASELINE = "cnnviz:user_model_run", "cnnviz:user_model_baseline"


def rescaling_model() -> keras.Model:
    """A classifier that divides raw 0-255 pixels by 255 itself, as many Keras tutorials do."""
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255, name="scale"),
                             keras.layers.Conv2D(4, 3, activation="relu", name="conv",
                                                 kernel_initializer=keras.initializers.HeNormal(seed=1)),
                             keras.layers.Flatten(),
                             keras.layers.Dense(10, name="logits", kernel_initializer=keras.initializers.HeNormal(2))],
                            name="rescaling")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("your_model")
    models.save(models.fused_model(), folder / "fused.keras")
    models.save(models.lambda_model(folder / "lambda_ran.txt"), folder / "lambda.keras")
    models.save(rescaling_model(), folder / "rescaling.keras")
    return folder


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["your_model:batch_size"] = 16
    return at.run()


def inspect(at: AppTest, folder: Path, name: str) -> AppTest:
    at.file_uploader(key="your_model:model_file").set_value((name, (folder / name).read_bytes(),
                                                            "application/octet-stream"))
    at.button(key="your_model:inspect").click()
    return at.run()


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def has_train_button(at: AppTest) -> bool:
    return any(button.key == "your_model:train_more" for button in at.button)


def test_a_refused_upload_hides_the_previous_results_and_their_train_button(files):
    at = inspect(page(), files, "fused.keras")
    assert not at.exception and not at.error
    assert has_train_button(at)
    # Findings come first, before the tables and charts (as on the Activations page).
    order = [type(e).__name__ for e in at.main]
    assert "fused.keras" in at.subheader[0].value
    first_table = order.index("Dataframe")
    findings_at = [i for i, e in enumerate(at.main) if isinstance(getattr(e, "value", None), str)
                   and e.value == "**Findings**"]
    assert findings_at and findings_at[0] < first_table

    at = inspect(at, files, "lambda.keras")
    assert not at.exception
    assert any("Lambda layer" in e for e in texts(at.error))
    assert not has_train_button(at)  # nothing to train that belongs to the refused file
    # The last good results are still there, folded away and named as the other file.
    assert len(at.expander) == 1 and "fused.keras, the last model accepted" in at.expander[0].label
    folded = at.expander[0].dataframe
    assert len(folded) == len(at.dataframe)  # every table is inside the fold...
    kept = at.session_state[RUN]  # ... and the first is the accepted model's per-layer statistics
    assert list(folded[0].value["layer"]) == [layer.name for layer in kept.latest.layers]
    at.run()  # and they stay folded on the next rerun, with the refusal still said
    assert any("Lambda layer" in e for e in texts(at.error)) and len(at.expander) == 1

    at = inspect(at, files, "fused.keras")  # an accepted upload clears the refusal
    assert not at.error and not at.expander and has_train_button(at)


def test_results_made_with_other_controls_are_marked_out_of_date(files):
    at = inspect(page(), files, "fused.keras")
    run = at.session_state[RUN]
    at.radio(key="your_model:source").set_value("synthetic").run()
    assert not at.exception
    warning = " ".join(texts(at.warning))
    assert "out of date" in warning and "data" in warning and "mnist-sample" in warning
    assert not has_train_button(at)
    at.button(key="your_model:inspect").click().run()
    assert at.session_state[RUN] is not run and at.session_state[RUN].dataset.name.startswith("synthetic")
    assert not [w for w in texts(at.warning) if "out of date" in w] and has_train_button(at)


def test_input_range_is_detected_shown_and_can_be_overridden(files):
    at = inspect(page(), files, "rescaling.keras")
    assert not at.exception and not at.error
    run = at.session_state[RUN]
    assert run.config.input_range == "0-255"
    said = " ".join(texts(at.caption))
    assert "Pixels fed in **0 … 255**" in said and "Rescaling" in said
    auto_std = run.latest.layer("conv").pre_activation.std

    at.radio(key="your_model:input_range").set_value("0-1")
    at.button(key="your_model:inspect").click().run()
    run = at.session_state[RUN]
    assert run.config.input_range == "0-1"
    said = " ".join(texts(at.caption))
    assert "chosen by you; the model's own layers suggest 0 … 255" in said
    # Fed [0, 1], the model divides by 255 again: its first layer sees a signal 255x too small.
    starved = run.latest.layer("conv").pre_activation.std
    assert starved < auto_std / 20


def test_re_initialised_kernels_are_compared_with_the_files_weights(files):
    at = page()
    at.selectbox(key="your_model:reinit").set_value("zeros")
    at = inspect(at, files, "fused.keras")
    assert not at.exception and "cnnviz:user_model_refused" not in at.session_state  # (findings may be red)
    run, baseline = at.session_state[RUN], at.session_state[BASELINE]
    assert run.config.init == "zeros" and baseline.config.init == "from-file"
    # Zero kernels and biases: the first layer's pre-activations are exactly 0; the file's are not.
    assert run.latest.layer("conv_relu").pre_activation.std == 0
    assert baseline.latest.layer("conv_relu").pre_activation.std > 0.01
    file_only = inspect(page(), files, "fused.keras").session_state[RUN]
    assert np.isclose(baseline.latest.layer("conv_relu").pre_activation.std,
                      file_only.latest.layer("conv_relu").pre_activation.std, rtol=1e-5)
    assert any(m.value == "**The file's weights**" for m in at.markdown)
    assert any(m.value == "**Re-initialised with zeros**" for m in at.markdown)
    chart = next(c for c in at.get("plotly_chart") if "file vs zeros" in c.proto.spec)
    assert "the file's weights" in chart.proto.spec
    at.button(key="your_model:train_more").click().run()  # Train moves both runs together
    assert run.step_count == baseline.step_count == 1
