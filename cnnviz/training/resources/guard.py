"""The resource guard of one server process: budget + heavy-work gate + memory ledger.

Pages use one process-wide guard (:func:`server_guard`); the CLI only needs
:func:`cnnviz.training.resources.check` with :func:`cnnviz.training.resources.cli_budget`. A page
builds through :meth:`ResourceGuard.build` (or :meth:`ResourceGuard.admit` for its own
loop) and trains through :meth:`ResourceGuard.train`::

    guard = server_guard()
    verdict = guard.assess(configs, replacing=old_runs, session_runs=kept)   # numbers before the button
    runs = guard.build(configs, make_run, cancel=token, on_wait=show_queue, replacing=old_runs,
                       session_runs=kept)
    guard.train(run, steps, cancel=token, on_wait=show_queue)

``old_runs`` are the page's runs the new ones replace, ``kept`` the session's runs on
other pages (they count against its budget). ``make_run(config)`` builds and probes one
Run; ``on_wait(status)`` receives a
:class:`~cnnviz.training.resources.gate.QueueStatus` while heavy work waits its turn;
``cancel`` is a :class:`~cnnviz.training.resources.gate.CancelToken` the page sets when the
session leaves or changes its settings. Refusals raise
:class:`~cnnviz.training.resources.verdict.OverBudget` (a UserError), cancellation raises
:class:`~cnnviz.training.resources.gate.Cancelled`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from cnnviz.training.resources.budget import Budget, server_budget
from cnnviz.training.resources.estimate import Estimate, estimate, estimate_model
from cnnviz.training.resources.gate import CancelToken, HeavyGate, MemoryLedger, QueueStatus, Reservation
from cnnviz.training.resources.verdict import OverBudget, Verdict, assess, group_peak_bytes

OnWait = Callable[[QueueStatus], None] | None
RESERVE_ATTEMPTS = 100


class Admission:
    """Permission to build the admitted runs: a cancellation checkpoint and the ledger entries."""

    def __init__(self, verdict: Verdict, reservation: Reservation, cancel: CancelToken | None):
        self.verdict = verdict
        self._reservation = reservation
        self._cancel = cancel
        self._held = 0

    def checkpoint(self) -> None:
        """Raise :class:`~cnnviz.training.resources.gate.Cancelled` if the work is no longer wanted."""
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()

    def hold(self, run) -> None:
        """Count the next admitted estimate against the server until ``run`` is garbage-collected.

        The estimate is also kept as ``run.resource_estimate``, for :meth:`ResourceGuard.train`.
        """
        self._reservation.bind(run)
        run.resource_estimate = self.verdict.estimates[self._held]
        self._held += 1


class ResourceGuard:
    """See module docs. Thread-safe; one per server process, or one per test."""

    def __init__(self, budget: Budget | None = None):
        self._budget = budget or server_budget()
        self.gate = HeavyGate(self._budget.heavy_builds)
        self.ledger = MemoryLedger()
        self._lock = threading.Lock()

    @property
    def budget(self) -> Budget:
        return self._budget

    def configure(self, budget: Budget) -> None:
        """Use ``budget`` from now on (runs already admitted stay counted)."""
        with self._lock:
            self._budget = budget
        self.gate.set_slots(budget.heavy_builds)

    def assess(self, target, replacing: Sequence = (), session_runs: Sequence = ()) -> Verdict:
        """The verdict for ``target`` given what other runs hold now.

        ``replacing``: runs the new ones replace (not counted anywhere). ``session_runs``:
        the session's runs that stay (other pages'), counted against its session budget.
        """
        replaced = {id(run) for run in replacing}
        session_held = sum(_estimate_of(run).held_bytes for run in session_runs if id(run) not in replaced)
        return assess(target, self._budget, self.ledger.held_bytes(exclude=replacing), session_held)

    def check(self, target, replacing: Sequence = (), session_runs: Sequence = ()) -> Verdict:
        """:meth:`assess`, raising :class:`OverBudget` when it does not fit."""
        verdict = self.assess(target, replacing, session_runs)
        if not verdict.fits:
            raise OverBudget(verdict)
        return verdict

    @contextmanager
    def admit(self, target, cancel: CancelToken | None = None, on_wait: OnWait = None,
              replacing: Sequence = (), label: str = "", session_runs: Sequence = ()) -> Iterator[Admission]:
        """Check, wait for a turn if heavy, reserve the memory, and hold the turn for the block.

        The memory check is repeated after the wait (others may have built meanwhile)
        and the reservation is atomic, so two sessions cannot both take the last room.
        """
        verdict = self.check(target, replacing, session_runs)
        seconds = sum(e.build_seconds for e in verdict.estimates)
        with self.gate.enter(seconds, verdict.heavy, cancel, on_wait, label or verdict.estimates[0].describe()):
            reservation = self._reserve(target, verdict, replacing)
            try:
                yield Admission(verdict, reservation, cancel)
            finally:
                reservation.release()  # entries of runs that were not built

    def build(self, configs: Sequence, make_run: Callable, cancel: CancelToken | None = None,
              on_wait: OnWait = None, replacing: Sequence = (), session_runs: Sequence = ()) -> list:
        """Build one run per config with ``make_run(config)`` through :meth:`admit`; return them in order.

        ``configs`` may also be Estimates (a user's model: ``estimate_model``); ``make_run``
        receives each item as given. Cancellation is checked before and after each build.
        """
        runs = []
        with self.admit(list(configs), cancel, on_wait, replacing, session_runs=session_runs) as admission:
            for config in configs:
                admission.checkpoint()
                run = make_run(config)
                admission.hold(run)
                runs.append(run)
                admission.checkpoint()
        return runs

    @contextmanager
    def step_turn(self, target, steps: int = 1, cancel: CancelToken | None = None,
                  on_wait: OnWait = None, label: str = "") -> Iterator[None]:
        """A turn at the gate for ``steps`` training steps of ``target`` (a config, an Estimate or a Run)."""
        estimates = [_estimate_of(t) for t in (target if isinstance(target, (list, tuple)) else [target])]
        heavy = self._budget.is_heavy(group_peak_bytes(estimates), max(e.step_seconds for e in estimates))
        seconds = sum(e.step_seconds for e in estimates) * steps
        with self.gate.enter(seconds, heavy, cancel, on_wait, label or estimates[0].describe()):
            yield

    def train(self, run, steps: int, cancel: CancelToken | None = None, on_wait: OnWait = None,
              callback=None, probe_last: bool = False):
        """``run.train(steps)``, one gate turn per step for a heavy run, cancellable between steps.

        Taking a turn per step (not per button press) lets two students training heavy
        networks alternate instead of one waiting for the other's whole run.
        Returns the last probed snapshot, like ``Run.train``.
        """
        last = None
        for done in range(int(steps)):
            if run.halted is not None:
                break
            with self.step_turn(run, 1, cancel, on_wait):
                snapshot = run.train(1, callback=callback, probe_last=probe_last and done == steps - 1)
            last = snapshot or last
        return last

    def _reserve(self, target, verdict: Verdict, replacing) -> Reservation:
        # One entry per run, bound to it once built, and one for the largest build's working memory,
        # given back when the admission ends.
        sizes = [e.held_bytes for e in verdict.estimates] + [max(e.transient_bytes for e in verdict.estimates)]
        for _ in range(RESERVE_ATTEMPTS):  # only a race with runs coming and going makes the checks disagree
            reservation = self.ledger.reserve(sizes, self._budget.server_memory_bytes, exclude=replacing)
            if reservation is not None:
                return reservation
            now = assess(target, self._budget, self.ledger.held_bytes(exclude=replacing))
            if not now.fits:
                raise OverBudget(now)
        raise OverBudget(assess(target, self._budget, self._budget.server_memory_bytes))  # say "the server is full"


def _estimate_of(target) -> Estimate:
    """The estimate of a config, an Estimate or a Run (a Run's is cached on it as ``resource_estimate``)."""
    if not (hasattr(target, "config") and hasattr(target, "step")):
        return estimate(target)
    cached = getattr(target, "resource_estimate", None)
    if cached is None:
        from cnnviz.nets.zoo import ARCHITECTURES

        config = target.config
        cached = (estimate(config) if config.arch in ARCHITECTURES  # a user's model: read its built layers
                  else estimate_model(target.model, config.batch_size, config.optimizer))
        target.resource_estimate = cached
    return cached


_server_guard: ResourceGuard | None = None
_server_lock = threading.Lock()


def server_guard() -> ResourceGuard:
    """The guard shared by every session of this process (created from the environment on first use)."""
    global _server_guard
    with _server_lock:
        if _server_guard is None:
            _server_guard = ResourceGuard(server_budget())
        return _server_guard


def configure_server(secrets: Mapping | None = None, environ: Mapping | None = None) -> Budget:
    """Set the shared guard's budget from the environment and ``secrets`` (e.g. ``st.secrets``)."""
    budget = server_budget(secrets, environ)
    server_guard().configure(budget)
    return budget
