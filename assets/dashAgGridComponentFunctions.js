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

// A compared value with its field's similarity score beside it ("Show scores").
dagcomponentfuncs.ValueWithScore = function (props) {
    const score = props.node.rowPinned ? null : props.data[props.scoreField];
    return React.createElement(
        "span",
        {className: "value-with-score"},
        React.createElement("span", {className: "cell-value"}, props.valueFormatted ?? props.value),
        score == null ? null : React.createElement("span", {className: "cell-score"}, score.toFixed(2))
    );
};
