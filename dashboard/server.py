"""The classroom server: ``streamlit run dashboard/server.py`` serves dashboard/app.py, warm from the start.

Under a plain ``streamlit run dashboard/app.py`` nothing of ours runs until the first
browser connects, so the first student waits while TensorFlow loads and the lessons'
networks are built and traced. Started through this file (Streamlit's ASGI ``st.App``
with a lifespan hook), the server begins that work (dashboard/warm.py) the moment it
starts, on a background thread; the app itself is the same ``app.py``.
"""

import sys
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard import warm  # noqa: E402  (imports no TensorFlow: the event loop must not wait for it)


@asynccontextmanager
async def lifespan(_app):
    warm.start_warm_up()
    yield


app = st.App("app.py", lifespan=lifespan)
