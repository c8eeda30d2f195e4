"""Every component ID of the page, written once.

Layout builders and callbacks import these names; no other module writes an
ID string. Pattern-matching IDs come from the factories at the bottom.
"""

from __future__ import annotations

__all__ = ["ids", "field_row"]


class ids:
    # page and navbar
    REVIEWER = "reviewer-name"
    PROJECT_SELECT = "project-select"
    SESSION_STORE = "session-store"
    TABS = "tabs"
    MESSAGE = "page-message"
    HELP_BUTTON = "help-button"
    HELP_POPOVER = "help-popover"
    DATA_BUTTON = "data-button"

    # review
    RECORD_CARD = "record-card"
    RECORD_LABEL = "record-label"
    PROGRESS = "review-progress"
    CANDIDATE_GRID = "candidate-grid"
    NO_CANDIDATES = "no-candidates"
    ACCEPT = "accept-button"
    REJECT = "no-match-button"
    SKIP = "skip-button"
    UNDO = "undo-button"
    DONE = "queue-done"
    REVIEW_SKIPPED = "review-skipped-button"
    GO_MATCHED = "go-matched-button"
    DONE_TEXT = "queue-done-text"
    EDITS_STORE = "edits-store"
    VIEW_STORE = "view-store"
    REVIEW_BODY = "review-body"

    # matched
    MATCHED_GRID = "matched-grid"
    MATCHED_REMOVE = "matched-remove-button"
    MATCHED_UNDO = "matched-undo-button"
    EXPORT_CSV = "export-csv-button"
    EXPORT_EXCEL = "export-excel-button"
    EXPORT_PARQUET = "export-parquet-button"
    DOWNLOAD = "download"
    MATCHED_SUMMARY = "matched-summary"
    MATCHED_STORE = "matched-store"

    # data panel
    DATA_PANEL = "data-panel"
    UPLOAD_LEFT = "upload-left"
    UPLOAD_RIGHT = "upload-right"
    UPLOAD_LEFT_INFO = "upload-left-info"
    UPLOAD_RIGHT_INFO = "upload-right-info"
    UPLOAD_STORE = "upload-store"
    LEFT_ID = "left-id-select"
    RIGHT_ID = "right-id-select"
    ADD_FIELD = "add-field-button"
    FIELDS = "fields-container"
    KEEP = "keep-input"
    SELECT = "select-input"
    PAIR_COUNT = "pair-count"
    RUN = "run-button"
    DATA_MESSAGE = "data-message"

    # tuning and statistics
    TUNING_BODY = "tuning-body"
    STATS_BODY = "stats-body"
    HISTOGRAM = "score-histogram"
    COUNTS = "plain-counts"


def field_row(part: str, index: int | str) -> dict:
    """ID of a control in a Data panel field row; ``part``: left, right, scorer, weight."""
    return {"type": f"field-{part}", "index": index}
