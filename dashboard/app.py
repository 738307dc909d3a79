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

# Streamlit calls Keras's process-wide clear_session after every script run of every session
# (script_runner._clean_problem_modules). That empties TensorFlow's kernel cache for the
# whole process, so each session's next compiled step is instantiated again (seconds per
# Step), and it resets Keras global state under the feet of concurrent sessions. Runs
# never rely on Keras global state (see DESIGN.md), so that clean-up is switched off.
from streamlit.runtime.scriptrunner import script_runner as _script_runner  # noqa: E402

_script_runner._clean_problem_modules = lambda: None

# Material icons ship with Streamlit; emoji need a colour-emoji font the projector PC may lack.
st.set_page_config(page_title="cnnviz — inside a CNN while it trains", page_icon=":material/biotech:", layout="wide")
__import__("dashboard.style").style.apply()  # projector CSS: columns wrap, labels are never cut off
__import__("dashboard.guarded").guarded.configure_once()  # resource budgets from the environment / secrets

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
navigation.run()
