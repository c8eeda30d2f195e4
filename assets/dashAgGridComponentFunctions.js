// Cell renderers of the candidate grid, found by name by dash-ag-grid.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
    window.dashAgGridComponentFunctions || {});

// The total score with a small bar under it; the pinned left record row says what it is.
dagcomponentfuncs.ScoreBar = function (props) {
    if (props.node.rowPinned) {
        return React.createElement("span", {className: "left-record-label"}, "Left record");
    }
    if (props.value == null) {
        return null;
    }
    const share = Math.max(0, Math.min(1, props.value));
    return React.createElement(
        "span",
        {className: "score-with-bar"},
        React.createElement("span", {className: "score-value"}, share.toFixed(2)),
        React.createElement(
            "span",
            {className: "score-bar"},
            React.createElement("span", {style: {width: (100 * share).toFixed(0) + "%"}})
        )
    );
};

// A compared value with the characters that differ from the left record's marked
// (props.marksField: {of, spans}) and, with "Show scores", its field's score.
dagcomponentfuncs.CompareCell = function (props) {
    const value = props.value == null ? "" : String(props.value);
    const pinned = !!props.node.rowPinned;
    const marks = pinned ? null : props.data[props.marksField];
    const parts = [];
    let at = 0;
    // Marks describe the value as proposed; a corrected value is shown plain.
    if (marks && marks.of === value) {
        marks.spans.forEach(function (span, k) {
            if (span[0] < at || span[1] > value.length) { return; }
            parts.push(value.slice(at, span[0]));
            parts.push(span[1] > span[0]
                ? React.createElement("mark", {key: k, className: "char-diff"},
                    value.slice(span[0], span[1]))
                : React.createElement("span", {key: k, className: "char-gap"}));
            at = span[1];
        });
    }
    parts.push(value.slice(at));
    const score = props.scoreField && !pinned ? props.data[props.scoreField] : null;
    return React.createElement(
        "span",
        {className: "value-with-score"},
        React.createElement("span", {className: "cell-value"}, ...parts),
        score == null ? null : React.createElement("span", {className: "cell-score"}, score.toFixed(2))
    );
};

// Functions the grid's column definitions call by name (dash-ag-grid's dashAgGridFunctions).
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

// A key pressed on a cell never opens its editor: the page's keys (a, n, s, u, digits,
// space) act on the record, and a double-click is the one way to correct a value.
// While an editor is open the grid handles every key.
dagfuncs.noEditByKey = function (params) {
    if (params.editing) { return false; }
    const key = params.event.key || "";
    return key.length === 1 || ["Enter", "F2", "Backspace", "Delete"].indexOf(key) >= 0;
};

// Set a corrected value, keeping the value the cell came with in row._original
// (the cell is then marked as corrected while the two differ).
dagfuncs.keepOriginal = function (params) {
    const field = params.colDef.field;
    const data = params.data;
    data._original = data._original || {};
    if (!Object.prototype.hasOwnProperty.call(data._original, field)) {
        data._original[field] = params.oldValue;
    }
    data[field] = params.newValue;
    return true;
};
