"""The classroom server: ``streamlit run dashboard/server.py`` serves dashboard/app.py, warm from the start.

Under a plain ``streamlit run dashboard/app.py`` nothing of ours runs until the first
browser connects, so the first student waits while TensorFlow loads and the lessons'
networks are built and traced. Started through this file (Streamlit's ASGI ``st.App``
with a lifespan hook), the server begins that work (dashboard/warm.py) the moment it
starts, on a background thread; the app itself is the same ``app.py``.

``GET /_cnnviz/stats`` answers what the process holds, as JSON: compiled cores and how
many were ever traced, live shared runs, the figure cache, the warm-up's progress (for
whoever runs the room, and for bench/bench_classroom.py).
"""

import sys
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard import warm  # noqa: E402  (imports no TensorFlow: the event loop must not wait for it)


@asynccontextmanager
async def lifespan(_app):
    warm.start_warm_up()
    yield


def process_stats() -> dict:
    """What this server process holds now (nothing is imported for it: absent parts are null)."""
    pool = sys.modules.get("cnnviz.training.pool")
    timeline = sys.modules.get("cnnviz.training.timeline")
    figures = sys.modules.get("cnnviz.figures.cache")
    progress = warm.progress()
    return {
        "traces_started": pool.POOL.traces_started if pool else None,
        "cores": pool.POOL.count() if pool else None,
        "core_signatures": [f"{key[1]} {key[5]}" for key in pool.POOL.signatures()] if pool else None,
        "live_timelines": timeline.live_timelines() if timeline else None,
        "figure_cache": ({"entries": len(figures.FIGURES), "built": figures.STATS.built, "hits": figures.STATS.hits,
                          "evicted": figures.STATS.evicted} if figures else None),
        "warm_up": ({"done": progress.done, "total": progress.total, "finished": progress.finished.is_set(),
                     "errors": progress.errors} if progress else None),
    }


async def stats(_request):
    return JSONResponse(process_stats())


app = st.App("app.py", lifespan=lifespan, routes=[Route("/_cnnviz/stats", stats)])
