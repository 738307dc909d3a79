"""User-facing errors.

Anything a person can get wrong (a name, a shape, a number, a file) raises
:class:`UserError` with one clear sentence. The CLI turns it into exit code 2 and a
message on stderr; the dashboard shows it with ``st.error`` and keeps the session.
Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(ValueError):
    """A problem with what the user asked for, explained in plain words."""


def unknown_name(kind: str, name: object, choices: Iterable[str]) -> UserError:
    """Build the error for an unknown architecture / initializer / optimizer / ... name."""
    listed = ", ".join(sorted(choices))
    return UserError(f"unknown {kind} {name!r}; choose one of: {listed}")


def check_choice(kind: str, name: str, choices: Iterable[str]) -> str:
    """Return ``name`` if it is one of ``choices``, else raise :func:`unknown_name`."""
    choices = list(choices)
    if name not in choices:
        raise unknown_name(kind, name, choices)
    return name
