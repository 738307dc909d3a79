"""Process-wide coordination: a queue for heavy work, cancellation, and a memory ledger.

* :class:`HeavyGate` lets at most N heavy builds or steps run at once in one server
  process; the others wait first come, first served, and their ``on_wait`` callback
  hears their place in the queue and an estimated wait ("2 builds ahead of you, about
  40 s"). Light work passes straight through.
* :class:`CancelToken` is set by whoever knows a piece of work is no longer wanted (a
  session that left, or changed its settings). Waiting in the queue ends at once with
  :class:`Cancelled`; running work checks it between phases and steps.
* :class:`MemoryLedger` remembers what each admitted run was estimated to hold until the
  run is garbage-collected, so a new run can be refused when the server's memory
  budget is taken by other sessions' runs.

Every method is thread-safe: Streamlit runs each session's script on its own thread.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STATUS_REFRESH_SECONDS = 1.0  # how often a waiter's estimated wait is recomputed and reported


class Cancelled(Exception):
    """The work was cancelled through its :class:`CancelToken` (not an error to show)."""


class CancelToken:
    """A one-way switch: once :meth:`cancel` is called, :attr:`cancelled` stays true."""

    def __init__(self):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the work; wakes a waiter in the gate's queue at once."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the work was cancelled (call between phases and steps)."""
        if self._event.is_set():
            raise Cancelled(self.reason)

    def _listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)
        if self._event.is_set():
            listener()

        def stop():
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return stop


@dataclass(frozen=True)
class QueueStatus:
    """Where a waiting piece of heavy work stands."""

    position: int  # 1 = next to start
    ahead: int  # heavy builds/steps that start or finish before this one can start
    running: int
    slots: int
    wait_seconds: float  # rough: what is ahead, by its own estimate, over the slots

    def text(self) -> str:
        """"2 builds ahead of you, about 40 s"."""
        noun = "build" if self.ahead == 1 else "builds"
        return f"{self.ahead} heavy {noun} ahead of you, about {max(self.wait_seconds, 1):.0f} s"


@dataclass
class _Ticket:
    label: str
    seconds: float
    number: int
    started: float | None = None


class HeavyGate:
    """At most ``slots`` heavy pieces of work at a time; the rest wait in arrival order."""

    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._slots = int(slots)
        self._condition = threading.Condition()
        self._waiting: deque[_Ticket] = deque()
        self._running: list[_Ticket] = []
        self._numbers = itertools.count(1)

    @property
    def slots(self) -> int:
        return self._slots

    def set_slots(self, slots: int) -> None:
        """Change how many heavy pieces of work may run at once (waiters re-check at once)."""
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        with self._condition:
            self._slots = int(slots)
            self._condition.notify_all()

    @contextmanager
    def enter(self, seconds: float, heavy: bool = True, cancel: CancelToken | None = None,
              on_wait: Callable[[QueueStatus], None] | None = None, label: str = "") -> Iterator[None]:
        """Hold a slot for the ``with`` block (light work: no slot, no wait).

        ``seconds`` is the work's own estimated duration, used for the others' wait
        estimates. ``on_wait(status)`` is called from this thread whenever the place in
        the queue or the rounded wait changes, never while the gate's lock is held.
        Raises :class:`Cancelled` if ``cancel`` is set before the slot is granted.
        """
        if cancel is not None:
            cancel.raise_if_cancelled()
        if not heavy:
            yield
            return
        ticket = _Ticket(label, float(seconds), next(self._numbers))
        stop_listening = cancel._listen(self._wake) if cancel is not None else (lambda: None)
        try:
            self._wait_for_slot(ticket, cancel, on_wait)
        finally:
            stop_listening()
        try:
            yield
        finally:
            with self._condition:
                self._running.remove(ticket)
                self._condition.notify_all()

    def status(self) -> dict:
        """What the gate is doing now: labels running and waiting, slots (for an admin view)."""
        with self._condition:
            return {"slots": self._slots, "running": [t.label for t in self._running],
                    "waiting": [t.label for t in self._waiting]}

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def _wait_for_slot(self, ticket: _Ticket, cancel: CancelToken | None, on_wait) -> None:
        last_reported = None
        with self._condition:
            self._waiting.append(ticket)
            try:
                while True:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled(cancel.reason)
                    if self._waiting[0] is ticket and len(self._running) < self._slots:
                        self._waiting.popleft()
                        ticket.started = time.monotonic()
                        self._running.append(ticket)
                        self._condition.notify_all()  # a further slot may be free for the next waiter
                        return
                    status = self._status_of(ticket)
                    if on_wait is not None and (status.position, round(status.wait_seconds)) != last_reported:
                        last_reported = (status.position, round(status.wait_seconds))
                        self._condition.release()
                        try:
                            on_wait(status)
                        finally:
                            self._condition.acquire()
                        continue  # things may have moved while the callback ran
                    self._condition.wait(STATUS_REFRESH_SECONDS if on_wait is not None else None)
            except BaseException:  # cancelled, or the callback raised (Streamlit stops a script that way)
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    self._condition.notify_all()  # the next in line may now be first
                raise

    def _status_of(self, ticket: _Ticket) -> QueueStatus:
        now = time.monotonic()
        position = self._waiting.index(ticket) + 1
        remaining = [max(t.seconds - (now - t.started), 0.0) for t in self._running]
        queued = [t.seconds for t in list(self._waiting)[:position - 1]]
        wait = (sum(remaining) + sum(queued)) / self._slots
        ahead = len(self._running) + position - 1
        return QueueStatus(position, ahead, len(self._running), self._slots, wait)


class MemoryLedger:
    """Estimated bytes held by live runs, each released when its run is garbage-collected."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[int, weakref.ref | None]] = {}  # key -> (bytes, owner)
        self._keys = itertools.count(1)
        self._released: deque[int] = deque()  # appended by finalizers, which may run on any thread, lock-free

    def held_bytes(self, exclude=()) -> int:
        """Bytes held, not counting the runs in ``exclude`` (e.g. the ones a page is about to replace)."""
        with self._lock:
            return self._held(exclude)

    def reserve(self, sizes: list[int], limit_bytes: float, exclude=()) -> Reservation | None:
        """Atomically reserve ``sizes`` if the held total plus them stays within ``limit_bytes``."""
        with self._lock:
            if self._held(exclude) + sum(sizes) > limit_bytes:
                return None
            keys = []
            for size in sizes:
                key = next(self._keys)
                self._entries[key] = (int(size), None)
                keys.append(key)
        return Reservation(self, keys)

    def hold(self, owner, size: int) -> None:
        """Count ``size`` bytes until ``owner`` is garbage-collected."""
        with self._lock:
            key = next(self._keys)
            self._entries[key] = (int(size), None)
        self._bind(key, owner)

    def holders(self) -> int:
        with self._lock:
            self._drain()
            return len(self._entries)

    def _bind(self, key: int, owner) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key] = (self._entries[key][0], weakref.ref(owner))
        weakref.finalize(owner, self._released.append, key)

    def _release(self, key: int) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _drain(self) -> None:
        while self._released:
            self._entries.pop(self._released.popleft(), None)

    def _held(self, exclude) -> int:
        self._drain()
        skip = {id(owner) for owner in exclude}
        total = 0
        for size, ref in self._entries.values():
            owner = ref() if ref is not None else None
            if owner is not None and id(owner) in skip:
                continue
            total += size
        return total


class Reservation:
    """Reserved ledger entries, each bound to a run with :meth:`bind` or given back by :meth:`release`."""

    def __init__(self, ledger: MemoryLedger, keys: list[int]):
        self._ledger = ledger
        self._unbound = list(keys)

    def bind(self, owner) -> None:
        """Keep the next reserved entry until ``owner`` (a Run) is garbage-collected."""
        if not self._unbound:
            raise RuntimeError("every reserved entry is already bound")
        self._ledger._bind(self._unbound.pop(0), owner)

    def release(self) -> None:
        """Give back every entry not bound to a run (a build that failed, was cancelled or was reused)."""
        while self._unbound:
            self._ledger._release(self._unbound.pop())
