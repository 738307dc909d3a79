"""The server's resource guard on the pages: one student cannot take the server down for everyone.

vgg16 at batch 100 used to take 36 s and 16-19 GiB (the kernel's OOM killer then ended
every student's session). Through the Activations page it is now refused at once, with a
batch size that fits; the student's previous run and every other session keep working.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

os.environ.setdefault("CNNVIZ_OFFLINE", "1")
ACTIVATIONS = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "activations.py")


def open_page(**settings) -> AppTest:
    at = AppTest.from_file(ACTIVATIONS, default_timeout=120)
    for name, value in settings.items():
        at.session_state[f"activations:{name}"] = value
    return at.run()


def test_vgg16_at_batch_100_is_refused_with_a_batch_that_fits_and_the_room_keeps_working():
    student = open_page(arch="ltfn_convnet", batch_size=16)
    classmate = open_page(arch="ltfn_convnet", batch_size=16, seed=1)
    assert not student.exception and not classmate.exception
    before = student.session_state["cnnviz:run"]

    student.session_state["activations:arch"] = "vgg16"
    student.session_state["activations:batch_size"] = 100
    student.button(key="activations:reset").click().run()
    assert not student.exception
    refusal = " ".join(e.value for e in student.error)
    assert refusal.startswith("vgg16 at batch 100") and "GiB" in refusal, refusal  # the name as written
    # vgg16's weights and Adam's slots alone pass a 2 GiB session at 224x224: a smaller input that fits
    smaller = re.search(r"input size (\d+)x(\d+)x3 fits at batch (\d+)", refusal)
    assert smaller and 32 <= int(smaller.group(1)) < 224, refusal
    assert student.session_state["cnnviz:run"] is before  # nothing the student had is lost

    classmate.button(key="activations:step").click().run()  # the rest of the room goes on
    assert not classmate.exception and classmate.session_state["cnnviz:run"].step_count == 1


def test_compare_with_vgg16_at_batch_100_is_refused_and_the_comparison_before_stays():
    """Two copies of vgg16 would need ~33 GiB: Compare refuses them together, in one sentence."""
    page = str(Path(ACTIVATIONS).with_name("compare_inits.py"))
    at = AppTest.from_file(page, default_timeout=120)
    at.session_state["compare:batch_size"] = 16
    at.session_state["compare:inits"] = ["normal", "he-normal"]
    at.run()
    assert not at.exception  # (N(0,1)'s findings are errors on the page: that is the lesson)
    assert not [e.value for e in at.error if "GiB" in e.value]
    before = at.session_state["cnnviz:compare_runs"]

    at.session_state["compare:arch"] = "vgg16"
    at.session_state["compare:batch_size"] = 100
    at.button(key="compare:rebuild").click().run()
    assert not at.exception
    refusal = " ".join(e.value for e in at.error if "GiB" in e.value)
    # Two copies of vgg16's weights and Adam slots alone pass 2 GiB: no batch or input fits, so the
    # alternative is the page that shows the network without building it.
    assert refusal.startswith("2 runs of vgg16 at batch 100") and "the Architecture page" in refusal, refusal
    assert at.session_state["cnnviz:compare_runs"] is before  # the earlier comparison is kept
