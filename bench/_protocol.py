"""A student without a browser: one Streamlit session driven over the app's own websocket protocol.

A browser talks to a Streamlit server with protobuf messages on ``/_stcore/stream``:
it sends a ``BackMsg.rerun_script`` (page, query string, widget values; a button press
is a widget whose ``trigger_value`` is true) and receives ``ForwardMsg``s (the page's
elements as deltas) until ``script_finished``. :class:`ProtocolSession` does exactly
that and keeps what a benchmark needs to know about the page: its buttons (by key),
its metrics (by label), exception boxes, the current page. It draws nothing, so thirty
of them cost the benchmark machine almost no CPU: every CPU second measured on the
server is the server's own, as in a classroom whose students bring their own laptops.

    async with ProtocolSession(port) as student:
        await student.open("activations", "lesson=sigmoid-saturates")
        seconds = await student.press("activations:step")
        print(student.metric("Training step"))
"""

from __future__ import annotations

import asyncio
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

FINISHED = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")
FINISHED_EARLY = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")


class ScriptTimeout(Exception):
    """The page did not finish its script run in time."""


class ProtocolSession:
    """One browser session, minus the browser (see module docs)."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.url = f"ws://{host}:{port}/_stcore/stream"
        self.socket = None
        self.page_hash = ""
        self.page_name = ""
        self.query = ""
        self.buttons: dict[str, str] = {}  # widget key -> widget id
        self.metrics: dict[str, str] = {}  # label -> value
        self.exceptions: list[str] = []
        self.errors: list[str] = []  # st.error texts
        self.received_bytes = 0
        self.runs = 0

    async def __aenter__(self) -> ProtocolSession:
        # No Origin header: what a same-origin browser sends is accepted anyway; no proxy.
        self.socket = await connect(self.url, subprotocols=["streamlit"], max_size=None, proxy=None,
                                    ping_interval=None, open_timeout=60, compression=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None

    # ------------------------------------------------------------ actions
    async def open(self, page_name: str = "", query: str = "", timeout: float = 600) -> float:
        """Load ``/page_name?query`` as a browser would; seconds until the page's script finished."""
        self.page_name, self.query = page_name, query
        return await self._rerun([], timeout)

    async def press(self, key: str, timeout: float = 600) -> float:
        """Click the button with widget key ``key``; seconds until the page's script finished."""
        if key not in self.buttons:
            raise KeyError(f"no button {key!r} on the page (have {sorted(self.buttons)})")
        return await self._rerun([self.buttons[key]], timeout)

    def metric(self, label: str) -> str | None:
        """The value of the metric whose label starts with ``label`` (as last drawn)."""
        return next((value for name, value in self.metrics.items() if name.startswith(label)), None)

    # ------------------------------------------------------------ protocol
    async def _rerun(self, triggers: list[str], timeout: float) -> float:
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.page_name = self.page_name
        for widget_id in triggers:
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            widget.trigger_value = True
        started = time.perf_counter()
        await self.socket.send(message.SerializeToString())
        try:
            await asyncio.wait_for(self._until_finished(), timeout)
        except asyncio.TimeoutError:
            raise ScriptTimeout(f"no finished script run within {timeout:.0f} s") from None
        self.runs += 1
        return time.perf_counter() - started

    async def _until_finished(self) -> None:
        while True:
            raw = await self.socket.recv()
            self.received_bytes += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._new_run(msg.new_session.page_script_hash)
            elif kind == "navigation":
                self.page_hash = msg.navigation.page_script_hash or self.page_hash
                for page in msg.navigation.app_pages:
                    if page.page_script_hash == self.page_hash:
                        self.page_name = page.url_pathname
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element)
            elif kind == "script_finished" and msg.script_finished == FINISHED:
                return
            # FINISHED_EARLY_FOR_RERUN (st.rerun, st.switch_page): the next run follows by itself

    def _new_run(self, page_hash: str) -> None:
        self.page_hash = page_hash or self.page_hash
        self.buttons.clear()
        self.metrics.clear()
        self.exceptions.clear()
        self.errors.clear()

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "button":
            parts = element.button.id.split("-", 2)  # "$$ID-<hash>-<user key>"
            self.buttons[parts[2] if len(parts) == 3 else element.button.id] = element.button.id
        elif kind == "metric":
            self.metrics[element.metric.label] = element.metric.body
        elif kind == "exception":
            self.exceptions.append(element.exception.message)
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            self.errors.append(element.alert.body)
