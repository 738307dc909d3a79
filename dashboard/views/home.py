"""Lessons: the landing page. What cnnviz is, and one click to set up each classroom demo."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for running this page on its own (AppTest, `streamlit run` of the file)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from cnnviz.lessons import LESSONS  # noqa: E402
from dashboard import links  # noqa: E402

PAGE_TITLES = {"activations": "Activations (live training)", "compare": "Compare initializers",
               "playground": "Optimizer playground", "logits": "Logits & softmax", "filters": "Filters & feature maps",
               "architecture": "Architecture"}


def open_lesson(lesson) -> None:
    """Set every control of the lesson's page, drop the runs it replaces, and go there."""
    st.switch_page(links.PAGE_FILES[links.apply_lesson(lesson)])


def describe_settings(settings: dict) -> str:
    shown = []
    for name, value in settings.items():
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, float):
            value = f"{value:g}"
        shown.append(f"{name.replace('_', ' ')} **{value}**")
    return " · ".join(shown)


st.title("cnnviz: look inside a CNN while it trains")
st.markdown("cnnviz builds real Keras networks (from softmax regression to VGG-16), trains them on real MNIST digits "
            "and shows, layer by layer, what the numbers inside are doing. It says in plain words when something "
            "goes wrong: activations that explode or vanish, ReLUs that die, a softmax that is certain of everything.")

st.header("Lessons")
st.markdown("Each lesson sets every control of its page at once. Open one, then press **Train** there.")
lessons = list(LESSONS.values())
base = links.app_base_url()
for start in range(0, len(lessons), 3):
    for column, lesson in zip(st.columns(3), lessons[start:start + 3]):
        with column, st.container(border=True, height="stretch"):
            st.subheader(lesson.title)
            st.write(lesson.summary)
            st.caption(f"Opens **{PAGE_TITLES.get(lesson.page, lesson.page)}** with "
                       f"{describe_settings(lesson.settings)}")
            if st.button("Open this lesson", key=f"lesson:{lesson.key}", type="primary", icon=":material/school:"):
                open_lesson(lesson)
            st.caption("Link for the class (everyone who opens it gets this lesson):")
            st.code(links.lesson_link(lesson, base), language=None, wrap_lines=True)

st.header("How to use it in class")
st.markdown(
    "1. **Project the page** (browser zoom 125–150 % reads well from the back rows) and open a lesson.\n"
    "2. **Predict first.** Before pressing Train, ask the room what the histograms will look like by the last layer.\n"
    "3. **Step, then Train.** *Step* takes one training step; *Train N* runs live and redraws about once a second; "
    "*Pause* stops; *Reset* builds a fresh network from the sidebar settings.\n"
    "4. **Change one thing.** Switch the initializer or the learning rate in the sidebar; the page waits for *Reset* "
    "so the old run stays on screen while you talk about it.\n"
    "5. **Read the findings.** Red and yellow boxes name the layer and step where something went wrong and what "
    "to try; the HTML report and CSV buttons take the numbers home.")
st.caption("Everything runs on the CPU with the embedded 10,000-digit MNIST sample: no internet needed.")
