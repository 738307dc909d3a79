"""cnnviz dashboard entry: page config and navigation, nothing else.

Run with ``streamlit run dashboard/app.py``.
"""

import sys
from pathlib import Path

import streamlit as st

# Make `cnnviz` and `dashboard` importable when started as `streamlit run dashboard/app.py`.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Streamlit would clear Keras's process-wide session after every script run of every
# session, under the feet of the shared compiled cores (see dashboard/compat.py).
from dashboard import compat  # noqa: E402

compat.keep_keras_session()

# The lessons' networks are prepared on a background thread, once per process (already
# running when the server was started through dashboard/server.py); pages draw meanwhile.
from dashboard import warm  # noqa: E402

warm.start_warm_up()

# Material icons ship with Streamlit; emoji need a colour-emoji font the projector PC may lack.
st.set_page_config(page_title="cnnviz — inside a CNN while it trains", page_icon=":material/biotech:", layout="wide")
__import__("dashboard.style").style.apply()  # projector CSS: columns wrap, labels are never cut off
__import__("dashboard.guarded").guarded.configure_once()  # resource budgets from the environment / secrets
warm.wait_for_imports()  # one thread imports TensorFlow and the dashboard, not two at once
warm.prefetch_chart_library()  # the browser starts loading plotly.js while the page computes

# Not "pages/": Streamlit auto-lists a folder of that name before st.navigation first runs,
# so a deep link to a fresh server would show file names instead of this navigation.
PAGES = Path(__file__).parent / "views"
navigation = st.navigation({
    "Learn": [
        st.Page(PAGES / "home.py", title="Lessons", icon=":material/school:", default=True),
    ],
    "Inside the network": [
        st.Page(PAGES / "activations.py", title="Activations (live training)", icon=":material/bar_chart:", url_path="activations"),
        st.Page(PAGES / "compare_inits.py", title="Compare initializers", icon=":material/compare:", url_path="compare"),
        st.Page(PAGES / "logits.py", title="Logits & softmax", icon=":material/target:", url_path="logits"),
        st.Page(PAGES / "filters.py", title="Filters & feature maps", icon=":material/grid_view:", url_path="filters"),
        st.Page(PAGES / "your_model.py", title="Your model (.keras)", icon=":material/upload_file:", url_path="your-model"),
        st.Page(PAGES / "runs.py", title="Runs (your own training)", icon=":material/monitoring:", url_path="runs"),
    ],
    "Explore": [
        st.Page(PAGES / "optimizer_playground.py", title="Optimizer playground", icon=":material/landscape:", url_path="playground"),
        st.Page(PAGES / "architecture.py", title="Architecture", icon=":material/account_tree:", url_path="architecture"),
    ],
})
# A link with a lesson or settings (?lesson=he-rescues, ?arch=lenet5&seed=3, ...) is applied
# once per session before its page draws; a bad one says why and opens the defaults.
from dashboard import links  # noqa: E402

with warm.page_running():
    links.apply_link(navigation.url_path)
    warm.show_progress()
    navigation.run()
if navigation.url_path == "activations":
    links.share_current_run()
