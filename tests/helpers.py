"""Helpers shared by the callback tests."""

from __future__ import annotations

from callbacks.review import update_review

#: The outputs of ``update_review``, in order.
REVIEW_OUTPUTS = (
    "card",
    "label",
    "progress",
    "progress_label",
    "rows",
    "columns",
    "selected",
    "no_candidates",
    "done",
    "done_text",
    "body_style",
    "view",
    "message",
    "message_open",
    "session",
)


def review_step(
    services, project, trigger=None, view=None, selected=(), edits=None, who="ann", session=None
) -> dict:
    """Call the review callback as the page would; returns its outputs by name."""
    out = update_review(
        project.project_id,
        who,
        [{"_right_id": r} for r in selected],
        edits or {},
        view,
        session,
        services=services,
        trigger=trigger,
    )
    return dict(zip(REVIEW_OUTPUTS, out))
