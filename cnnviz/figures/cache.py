"""A process-wide cache of built figures: a redraw that shows nothing new builds nothing.

Figures are pure functions of a run's snapshots and a few display options, and the
snapshots of a run definition never change once computed (a timeline only ever adds
steps). So a figure can be keyed by *what it is drawn from* instead of by who asks:

    (timeline, number of snapshots the run can see, figure name, display options)

The snapshot count pins the history exactly: a timeline's snapshots only grow, so two
moments with the same count below a run's step saw the same snapshots. Thirty students
on one lesson, one step apart or in lockstep, therefore share every figure; a toggle
or another widget reruns the page without rebuilding the figures it did not change.

The cache is bounded twice: at most :func:`max_entries` figures (least recently used
go first), and every figure of a timeline goes when the timeline itself is freed (the
last run using it was dropped). When thirty sessions ask for the same missing figure at
once, one builds it and the others wait for that one (no thirtyfold work).

Cached objects are shared between sessions: treat them as read-only (``st.plotly_chart``
copies a figure before serialising it, which is fine).

``CNNVIZ_FIGURE_CACHE`` = a number of entries, or ``0`` to switch caching off
(benchmarks compare both).
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cnnviz.diagnosis import diagnose_run

DEFAULT_MAX_ENTRIES = 256


def max_entries() -> int:
    """Entries kept (``CNNVIZ_FIGURE_CACHE`` overrides; 0 switches the cache off)."""
    configured = os.environ.get("CNNVIZ_FIGURE_CACHE", "").strip()
    return int(configured) if configured.isdigit() else DEFAULT_MAX_ENTRIES


@dataclass
class CacheStats:
    """Counters for tests and benchmarks: figures built (misses), served from the cache, evicted."""

    built: int = 0
    hits: int = 0
    evicted: int = 0


class FigureCache:
    """A thread-safe LRU of built values with one builder per missing key (see module docs)."""

    def __init__(self, size: Callable[[], int] = max_entries):
        self._size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value cached under ``key``, built with ``build()`` (once, by one caller) if missing."""
        limit = self._size()
        if limit <= 0:
            self.stats.built += 1
            return build()
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self.stats.hits += 1
                    return self._entries[key]
                pending = self._building.get(key)
                if pending is None:
                    pending = self._building[key] = threading.Event()
                    break
            pending.wait()  # someone else is building it; if their build failed, try ourselves
        try:
            value = build()
            with self._lock:
                self.stats.built += 1
                self._entries[key] = value
                while len(self._entries) > limit:
                    self._entries.popitem(last=False)
                    self.stats.evicted += 1
            return value
        finally:
            with self._lock:
                self._building.pop(key, None)
            pending.set()

    def drop(self, matches: Callable[[Hashable], bool]) -> int:
        """Forget every entry whose key ``matches``; returns how many went."""
        with self._lock:
            doomed = [key for key in self._entries if matches(key)]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def keys(self) -> list:
        """The keys held now, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


FIGURES = FigureCache()
STATS = FIGURES.stats

_tokens: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_token_lock = threading.Lock()
_counter = itertools.count(1)


def source_token(source) -> int:
    """A number naming ``source`` (e.g. a Timeline) for as long as it lives, never reused.

    ``id()`` would be reused by a later object; when ``source`` is freed its figures are
    dropped from :data:`FIGURES`.
    """
    with _token_lock:
        token = _tokens.get(source)
        if token is None:
            token = _tokens[source] = next(_counter)
            weakref.finalize(source, FIGURES.drop, lambda key, token=token: key[0] == ("source", token))
        return token


def run_view_key(run) -> tuple:
    """What every figure of ``run``'s current view is drawn from: its timeline and visible snapshots.

    Equal keys mean equal snapshots (see module docs), so equal figures.
    """
    return ("source", source_token(run.timeline)), len(run.snapshots)


def run_figure(run, name: str, options: Hashable, build: Callable[[], Any], view_key: tuple | None = None) -> Any:
    """The figure ``name`` with display ``options`` for ``run``'s current view, built only if new.

    ``view_key`` (from :func:`run_view_key`) saves recomputing it when a page draws several.
    """
    source, seen = view_key or run_view_key(run)
    return FIGURES.get((source, seen, name, options), build)


def run_history(run):
    """``run.history()`` of the current view, computed once for every session (shared: read-only)."""
    return run_figure(run, "history", None, run.history)


def run_findings(run) -> list:
    """``diagnose_run(run)`` of the current view, computed once for every session; a halt changes them."""
    return run_figure(run, "findings", run.halted, lambda: diagnose_run(run))
