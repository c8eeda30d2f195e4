"""Roles and what each may do: the one table every rule on the server reads.

Three roles, each with everything of the one before it:

- ``reviewer``: decide records, undo and change their own decisions;
- ``lead``: also save thresholds, apply bulk decisions, change others' decisions,
  see everyone's statistics;
- ``admin``: also upload tables, create and delete projects, manage users.
"""

from __future__ import annotations

__all__ = ["ROLES", "ACTIONS", "allowed", "require", "PermissionDenied"]

ROLES = ("reviewer", "lead", "admin")

#: Action -> the least role that may take it.
ACTIONS = {
    "decide": "reviewer",
    "undo_own": "reviewer",
    "change_own": "reviewer",
    "export": "reviewer",
    "change_others": "lead",
    "save_thresholds": "lead",
    "bulk": "lead",
    "statistics_all": "lead",
    "upload": "admin",
    "create_project": "admin",
    "delete_project": "admin",
    "manage_users": "admin",
}


class PermissionDenied(Exception):
    """An action the actor's role does not allow; the message says which."""


def allowed(role: str, action: str) -> bool:
    """True when ``role`` may take ``action``.

    >>> allowed("reviewer", "bulk"), allowed("lead", "bulk"), allowed("admin", "upload")
    (False, True, True)
    """
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(ACTIONS[action])


def require(role: str, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may take ``action``."""
    if not allowed(role, action):
        need = ACTIONS[action]
        raise PermissionDenied(
            f"only a {need} or above may {action.replace('_', ' ')}; you are a {role}"
        )
