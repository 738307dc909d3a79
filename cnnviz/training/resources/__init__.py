"""The resource guard: estimate a run's memory and step time before building it, refuse
what does not fit a session's budget (with an alternative that does), queue heavy work
and let abandoned work be cancelled. No streamlit, no model building here.

Modules: :mod:`~cnnviz.training.resources.estimate` (the estimate), :mod:`~cnnviz.training.resources.budget`
(limits from the environment / secrets), :mod:`~cnnviz.training.resources.verdict` (fits? what
instead?), :mod:`~cnnviz.training.resources.gate` (queue, cancellation, memory ledger),
:mod:`~cnnviz.training.resources.guard` (all of it for one server process).
"""

from cnnviz.training.resources.budget import Budget, available_memory_bytes, cli_budget, server_budget
from cnnviz.training.resources.estimate import (Estimate, NetworkProfile, estimate, estimate_config, estimate_model,
                                       format_bytes, format_seconds, model_rows, profile_from_config,
                                       profile_from_model, profile_from_rows)
from cnnviz.training.resources.gate import Cancelled, CancelToken, HeavyGate, MemoryLedger, QueueStatus
from cnnviz.training.resources.guard import Admission, ResourceGuard, configure_server, server_guard
from cnnviz.training.resources.verdict import Alternative, OverBudget, Verdict, assess, check

__all__ = ["Admission", "Alternative", "Budget", "CancelToken", "Cancelled", "Estimate", "HeavyGate",
           "MemoryLedger", "NetworkProfile", "OverBudget", "QueueStatus", "ResourceGuard", "Verdict", "assess",
           "available_memory_bytes", "check", "cli_budget", "configure_server", "estimate", "estimate_config",
           "estimate_model", "format_bytes", "format_seconds", "model_rows", "profile_from_config",
           "profile_from_model", "profile_from_rows", "server_budget", "server_guard"]
