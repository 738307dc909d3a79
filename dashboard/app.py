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

st.set_page_config(page_title="cnnviz — inside a CNN while it trains", page_icon="🔬", layout="wide")

PAGES = Path(__file__).parent / "pages"
navigation = st.navigation({
    "Learn": [
        st.Page(PAGES / "home.py", title="Lessons", icon="🎓", default=True),
    ],
    "Inside the network": [
        st.Page(PAGES / "activations.py", title="Activations (live training)", icon="📊", url_path="activations"),
        st.Page(PAGES / "compare_inits.py", title="Compare initializers", icon="⚖️", url_path="compare"),
        st.Page(PAGES / "logits.py", title="Logits & softmax", icon="🎯", url_path="logits"),
        st.Page(PAGES / "filters.py", title="Filters & feature maps", icon="🧩", url_path="filters"),
        st.Page(PAGES / "your_model.py", title="Your model (.keras)", icon="📦", url_path="your-model"),
    ],
    "Explore": [
        st.Page(PAGES / "optimizer_playground.py", title="Optimizer playground", icon="🏔️", url_path="playground"),
        st.Page(PAGES / "architecture.py", title="Architecture", icon="🏗️", url_path="architecture"),
    ],
})
navigation.run()
