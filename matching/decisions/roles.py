"""Roles and what each may do: the one table every rule on the server reads.

Three roles on a ladder, each with everything of the one before it:

- ``reviewer``: decide records, undo and change their own decisions;
- ``lead``: also save thresholds and the project's other settings (how records
  pair, the reasons), apply bulk decisions, change others' decisions, see
  everyone's statistics, re-run a project from its stored tables (its next version);
- ``admin``: also upload tables, create and delete projects, manage users.

and one beside it: a ``manager`` reads (everyone's statistics, the matched table,
exports) and changes nothing: no decision, no lease on a record, no setting.
"""

from __future__ import annotations

__all__ = [
    "PHRASES",
    "ROLES",
    "LADDER",
    "ACTIONS",
    "MANAGER_ACTIONS",
    "allowed",
    "require",
    "PermissionDenied",
]

#: Every role, the ladder's first.
ROLES = ("reviewer", "lead", "admin", "manager")
#: The roles that decide, each with everything of the one before it.
LADDER = ("reviewer", "lead", "admin")

#: Action -> the least role that may take it.
ACTIONS = {
    "decide": "reviewer",
    "undo_own": "reviewer",
    "change_own": "reviewer",
    "export": "reviewer",
    "change_others": "lead",
    "save_thresholds": "lead",
    "change_settings": "lead",
    "bulk": "lead",
    "statistics_all": "lead",
    "rerun_project": "lead",
    "upload": "admin",
    "create_project": "admin",
    "delete_project": "admin",
    "manage_users": "admin",
}

#: What a manager may do: read, never write.
MANAGER_ACTIONS = frozenset({"export", "statistics_all"})


class PermissionDenied(Exception):
    """An action the actor's role does not allow; the message says which."""


def allowed(role: str, action: str) -> bool:
    """True when ``role`` may take ``action``.

    >>> allowed("reviewer", "bulk"), allowed("lead", "bulk"), allowed("admin", "upload")
    (False, True, True)
    >>> allowed("manager", "statistics_all"), allowed("manager", "decide")
    (True, False)
    """
    if role == "manager":
        return action in MANAGER_ACTIONS
    if role not in LADDER:
        return False
    return LADDER.index(role) >= LADDER.index(ACTIONS[action])


#: What each action is, as a refusal says it.
PHRASES = {
    "decide": "decide records",
    "undo_own": "undo their own decisions",
    "change_own": "change their own decisions",
    "export": "export",
    "change_others": "change others' decisions",
    "save_thresholds": "save thresholds",
    "change_settings": "change the project's settings",
    "bulk": "apply bulk decisions",
    "statistics_all": "see everyone's statistics",
    "rerun_project": "re-run a project",
    "upload": "upload tables",
    "create_project": "create projects",
    "delete_project": "delete projects",
    "manage_users": "manage users",
}


def _a(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


def require(role: str, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may take ``action``.

    >>> require("reviewer", "upload")
    Traceback (most recent call last):
    ...
    matching.decisions.roles.PermissionDenied: only an admin may upload tables; you are a reviewer
    """
    if not allowed(role, action):
        need = ACTIONS[action]
        what = PHRASES.get(action, action.replace("_", " "))
        if role == "manager":
            raise PermissionDenied(
                f"a manager reads statistics, matches and exports but may not {what}: "
                f"that needs {_a(need)} or above"
            )
        above = "" if need == LADDER[-1] else " or above"
        raise PermissionDenied(f"only {_a(need)}{above} may {what}; you are {_a(role)}")
