"""Budgets: how much memory and step time one session may use, and the server as a whole.

Settings come from, in order of precedence: environment variables, a mapping the
dashboard passes in (read from ``.streamlit/secrets.toml``; the library never imports
streamlit), then the defaults below. The defaults fit a 24 GiB, 2-core classroom
server with about 30 students (docs/deploy.md, "Resource budgets").

``CNNVIZ_SESSION_MEMORY_MB``   memory one session's runs may take together (a Compare page's 2–4 runs count together)
``CNNVIZ_SESSION_STEP_SECONDS`` estimated seconds of one training step of them (idle machine)
``CNNVIZ_SERVER_MEMORY_MB``    memory all sessions' runs may hold together in one server process
``CNNVIZ_HEAVY_BUILDS``        heavy builds/steps that may run at the same time (others queue)
``CNNVIZ_HEAVY_MEMORY_MB``     a run estimated above this is heavy ...
``CNNVIZ_HEAVY_STEP_SECONDS``  ... and so is one whose step is estimated above this

The command line has no server to share: its memory budget is the machine's
available memory (``MemAvailable``) unless ``CNNVIZ_SESSION_MEMORY_MB`` says
otherwise, and its step time is unlimited unless ``CNNVIZ_SESSION_STEP_SECONDS`` is set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cnnviz.errors import UserError
from cnnviz.training.resources.estimate import MIB

DEFAULT_SESSION_MEMORY_MB = 2048
DEFAULT_SESSION_STEP_SECONDS = 2.0
DEFAULT_SERVER_MEMORY_MB = 20480  # 24 GiB less the OS, the server's own ~1 GiB and the estimates' slack
DEFAULT_HEAVY_BUILDS = 1
DEFAULT_HEAVY_MEMORY_MB = 1024
DEFAULT_HEAVY_STEP_SECONDS = 1.0
CLI_RESERVE_MB = 256  # left to the OS when the CLI takes the machine's available memory as its budget

# setting name -> (environment variable, kind, minimum)
SETTINGS: dict[str, tuple[str, type, float]] = {
    "session_memory_mb": ("CNNVIZ_SESSION_MEMORY_MB", float, 1),
    "session_step_seconds": ("CNNVIZ_SESSION_STEP_SECONDS", float, 0.001),
    "server_memory_mb": ("CNNVIZ_SERVER_MEMORY_MB", float, 1),
    "heavy_builds": ("CNNVIZ_HEAVY_BUILDS", int, 1),
    "heavy_memory_mb": ("CNNVIZ_HEAVY_MEMORY_MB", float, 0),
    "heavy_step_seconds": ("CNNVIZ_HEAVY_STEP_SECONDS", float, 0),
}
SECRETS_SECTION = "resources"  # [resources] in .streamlit/secrets.toml


@dataclass(frozen=True)
class Budget:
    """Limits for one session and for the server. ``inf`` means "no limit"."""

    session_memory_bytes: float = DEFAULT_SESSION_MEMORY_MB * MIB
    session_step_seconds: float = DEFAULT_SESSION_STEP_SECONDS
    server_memory_bytes: float = DEFAULT_SERVER_MEMORY_MB * MIB
    heavy_builds: int = DEFAULT_HEAVY_BUILDS
    heavy_memory_bytes: float = DEFAULT_HEAVY_MEMORY_MB * MIB
    heavy_step_seconds: float = DEFAULT_HEAVY_STEP_SECONDS
    audience: str = "page"  # "page" | "cli": how refusals word their alternatives
    memory_source: str = ""  # where the session memory limit came from, when worth saying

    def is_heavy(self, total_bytes: float, step_seconds: float) -> bool:
        """Whether work of this size must take a turn at the server's heavy-build gate."""
        return total_bytes > self.heavy_memory_bytes or step_seconds > self.heavy_step_seconds

    def to_dict(self) -> dict:
        """JSON-ready (MiB, seconds; None = no limit)."""
        def mib(value):
            return None if math.isinf(value) else round(value / MIB)

        def sec(value):
            return None if math.isinf(value) else value

        return {"session_memory_mb": mib(self.session_memory_bytes), "session_step_seconds": sec(self.session_step_seconds),
                "server_memory_mb": mib(self.server_memory_bytes), "heavy_builds": self.heavy_builds,
                "heavy_memory_mb": mib(self.heavy_memory_bytes), "heavy_step_seconds": sec(self.heavy_step_seconds),
                "audience": self.audience}


def server_budget(secrets: Mapping | None = None, environ: Mapping | None = None) -> Budget:
    """The dashboard's budget: environment variables, then ``secrets``, then the defaults.

    ``secrets`` is any mapping, e.g. ``st.secrets``: a ``[resources]`` table with the
    lower-case names of :data:`SETTINGS` (``session_memory_mb = 3072``), or top-level
    ``CNNVIZ_*`` keys. A value that is not a number (or is below its minimum) raises
    UserError naming where it came from.
    """
    values = _read_settings(secrets, os.environ if environ is None else environ)
    return Budget(session_memory_bytes=values.get("session_memory_mb", DEFAULT_SESSION_MEMORY_MB) * MIB,
                  session_step_seconds=values.get("session_step_seconds", DEFAULT_SESSION_STEP_SECONDS),
                  server_memory_bytes=values.get("server_memory_mb", DEFAULT_SERVER_MEMORY_MB) * MIB,
                  heavy_builds=int(values.get("heavy_builds", DEFAULT_HEAVY_BUILDS)),
                  heavy_memory_bytes=values.get("heavy_memory_mb", DEFAULT_HEAVY_MEMORY_MB) * MIB,
                  heavy_step_seconds=values.get("heavy_step_seconds", DEFAULT_HEAVY_STEP_SECONDS))


def cli_budget(environ: Mapping | None = None, available_bytes: float | None = None) -> Budget:
    """The command line's budget: the machine's available memory, no step-time limit, no server.

    ``CNNVIZ_SESSION_MEMORY_MB`` / ``CNNVIZ_SESSION_STEP_SECONDS`` override; that is
    also how to run something the estimate refuses (there is no ``--force``).
    """
    values = _read_settings(None, os.environ if environ is None else environ)
    if "session_memory_mb" in values:
        memory, source = values["session_memory_mb"] * MIB, "CNNVIZ_SESSION_MEMORY_MB"
    else:
        available = available_memory_bytes() if available_bytes is None else available_bytes
        memory = math.inf if available is None else max(available - CLI_RESERVE_MB * MIB, 0)
        source = "the machine's available memory"
    return Budget(session_memory_bytes=memory, memory_source=source, session_step_seconds=values.get("session_step_seconds", math.inf),
                  server_memory_bytes=math.inf, heavy_builds=values.get("heavy_builds", DEFAULT_HEAVY_BUILDS),
                  heavy_memory_bytes=math.inf, heavy_step_seconds=math.inf, audience="cli")


def available_memory_bytes() -> float | None:
    """``MemAvailable`` from /proc/meminfo (None where there is no /proc, e.g. macOS)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _secret(secrets: Mapping | None, key: str):
    """``secrets.get(key)``; None without a secrets file (``st.secrets`` then raises FileNotFoundError)."""
    if secrets is None:
        return None
    try:
        return secrets.get(key)
    except FileNotFoundError:
        return None


def _read_settings(secrets: Mapping | None, environ: Mapping) -> dict:
    values = {}
    section = _secret(secrets, SECRETS_SECTION)
    for name, (variable, kind, minimum) in SETTINGS.items():
        sources = [(variable, environ.get(variable)), (f"secrets {variable}", _secret(secrets, variable))]
        if isinstance(section, Mapping):
            sources.append((f"secrets [{SECRETS_SECTION}] {name}", section.get(name)))
        for where, raw in sources:
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                continue
            values[name] = _parse(where, raw, kind, minimum)
            break
    return values


def _parse(where: str, raw, kind: type, minimum: float):
    try:
        value = kind(raw) if kind is float else int(str(raw).strip())
    except (TypeError, ValueError):
        value = None
    if isinstance(raw, bool) or value is None or not math.isfinite(value) or value < minimum:
        wanted = "a whole number" if kind is int else "a number"
        raise UserError(f"{where} must be {wanted} of at least {minimum:g}, got {raw!r}")
    return value
