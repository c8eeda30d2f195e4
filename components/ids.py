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
    DONE_HEADING = "queue-done-heading"
    DONE_TEXT = "queue-done-text"
    EDITS_STORE = "edits-store"
    VIEW_STORE = "view-store"
    REVIEW_BODY = "review-body"
    REVIEW_RECORD = "review-record"
    BLIND = "blind-switch"
    SHOW_SCORES = "show-scores-switch"
    LEGEND = "similarity-legend"

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
    MATCHED_COLUMNS = "matched-columns"
    CONFLICT_GRID = "conflict-grid"
    CONFLICT_SUMMARY = "conflict-summary"
    CONFLICT_KEEP = "conflict-keep-button"
    CONFLICT_KEEP_ALL = "conflict-keep-all-button"
    CONFLICT_SEND_BACK = "conflict-send-back-button"
    CARDINALITY = "cardinality-select"
    CONFLICT_DONE = "conflict-done-store"
    AUDIT_BATCH = "audit-batch-select"
    AUDIT_MODE = "audit-mode-switch"
    REASON = "reason-choice"
    DOUBLE_SHARE = "double-review-share"
    DOUBLE_DRAW = "double-review-button"
    ADJUDICATION_GRID = "adjudication-grid"
    ADJUDICATION_SUMMARY = "adjudication-summary"
    KEEP_FIRST = "keep-first-review-button"
    KEEP_SECOND = "keep-second-review-button"
    ADJUDICATION_DONE = "adjudication-done-store"
    COMMENT = "reason-comment"
    PATTERN_FIELDS = "pattern-fields"
    PATTERN_PREVIEW = "pattern-preview-button"
    PATTERN_ACCEPT = "pattern-accept-button"
    PATTERN_REJECT = "pattern-reject-button"
    PATTERN_RESULT = "pattern-result"
    AUDIT_MARGIN = "audit-margin-input"
    AUDIT_DRAW = "audit-draw-button"
    AUDIT_MESSAGE = "audit-message"
    AUDIT_TABLE = "audit-table"

    # data panel
    DATA_PANEL = "data-panel"
    UPLOAD_LEFT = "upload-left"
    UPLOAD_RIGHT = "upload-right"
    UPLOAD_LEFT_INFO = "upload-left-info"
    UPLOAD_RIGHT_INFO = "upload-right-info"
    UPLOAD_STORE = "upload-store"
    UPLOAD_INBOX = "upload-inbox-store"
    UPLOAD_LEFT_PROGRESS = "upload-left-progress"
    UPLOAD_RIGHT_PROGRESS = "upload-right-progress"
    DATA_ROOT_LEFT = "data-root-left-input"
    DATA_ROOT_RIGHT = "data-root-right-input"
    DATA_ROOT_OPEN_LEFT = "data-root-left-open-button"
    DATA_ROOT_OPEN_RIGHT = "data-root-right-open-button"
    DATA_ROOT_FILES = "data-root-files"
    DELETE_PROJECT = "delete-project-button"
    DELETE_CONFIRM = "delete-project-confirm"
    LEFT_ID = "left-id-select"
    RIGHT_ID = "right-id-select"
    ADD_FIELD = "add-field-button"
    FIELDS = "fields-container"
    KEEP = "keep-input"
    SELECT = "select-input"
    PAIR_COUNT = "pair-count"
    BLOCK_RULES = "block-rules-input"
    LEARN_WEIGHTS = "learn-weights-button"
    LEARNED_VIEW = "learned-weights"
    LEARNED_STORE = "learned-store"
    RUN = "run-button"
    DATA_MESSAGE = "data-message"

    # tuning
    TUNING_KEEP = "tuning-keep-slider"
    TUNING_SELECT = "tuning-select-slider"
    TUNING_AUTO_ACCEPT = "tuning-auto-accept-slider"
    TUNING_MARGIN = "tuning-margin-slider"
    TUNING_AUTO_REJECT = "tuning-auto-reject-slider"
    TUNING_CHART = "tuning-chart"
    TUNING_COUNTS = "tuning-counts"
    TUNING_STATUS = "tuning-status-store"
    TUNING_SAVE = "tuning-save-button"
    TUNING_SAVED = "tuning-saved-text"
    AUTO_ACCEPT = "auto-accept-button"
    AUTO_REJECT = "auto-reject-button"
    BULK_MODAL = "bulk-modal"
    BULK_TEXT = "bulk-modal-text"
    BULK_CONFIRM = "bulk-confirm-button"
    BULK_CANCEL = "bulk-cancel-button"
    BULK_PENDING = "bulk-pending-store"
    BULK_RESULT = "bulk-result-text"
    BULK_DONE = "bulk-done-store"
    BAND_CHART = "acceptance-band-chart"
    ESTIMATE_TEXT = "precision-recall-text"

    # statistics
    STATS_INTERVAL = "stats-interval"
    STATS_SEEN = "stats-seen-store"
    STATS_PROGRESS = "stats-progress"
    STATS_OVER_TIME = "stats-over-time-chart"
    STATS_REVIEWERS = "stats-reviewers"
    STATS_SCORES = "stats-scores-chart"


#: IDs (and form field names) of the plain-HTML sign-in page, which is not a Dash layout.
LOGIN_NAME = "username"
LOGIN_PASSWORD = "password"


def pattern_part(part: str, index: int | str) -> dict:
    """ID of a control in an agreement-pattern row; ``part``: op or value."""
    return {"type": f"pattern-{part}", "index": index}


def field_row(part: str, index: int | str) -> dict:
    """ID of a control in a Data panel field row; ``part``: left, right, scorer, weight."""
    return {"type": f"field-{part}", "index": index}
