// Keyboard shortcuts of the Review tab: a accept, n no match, s skip, u undo,
// j/k or arrows move the highlighted candidate, space toggles its selection,
// 1-9 pick the reason given with the next decision.
(function () {
    const BUTTONS = {a: "accept-button", n: "no-match-button", s: "skip-button", u: "undo-button"};
    const GRID = "candidate-grid";

    function typing(target) {
        if (!target) { return false; }
        const tag = (target.tagName || "").toLowerCase();
        return tag === "input" || tag === "textarea" || tag === "select" ||
            target.isContentEditable ||
            !!(target.closest && target.closest(".ag-cell-inline-editing"));
    }

    function reviewVisible() {
        const grid = document.getElementById(GRID);
        return !!grid && grid.offsetParent !== null;
    }

    function gridApi() {
        try { return dash_ag_grid.getApi(GRID); } catch (e) { return null; }
    }

    function moveFocus(api, step) {
        const count = api.getDisplayedRowCount();
        if (!count) { return; }
        const focused = api.getFocusedCell();
        // From the pinned left record row, the next candidate is the first.
        let row = focused && !focused.rowPinned ? focused.rowIndex + step : 0;
        row = Math.max(0, Math.min(count - 1, row));
        const column = api.getAllDisplayedColumns()[1] || api.getAllDisplayedColumns()[0];
        api.ensureIndexVisible(row);
        api.setFocusedCell(row, column);
    }

    document.addEventListener("keydown", function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
        if (!reviewVisible()) { return; }
        const key = event.key;
        const inGrid = !!(event.target.closest && event.target.closest(".ag-root-wrapper"));
        if (BUTTONS[key]) {
            const button = document.getElementById(BUTTONS[key]);
            if (button && !button.disabled) {
                event.preventDefault();
                button.click();
            }
            return;
        }
        if (/^[1-9]$/.test(key)) {
            const choices = document.querySelectorAll("#reason-choice input[type=radio]");
            const choice = choices[Number(key) - 1];
            if (choice) {
                event.preventDefault();
                choice.click();
            }
            return;
        }
        const api = gridApi();
        if (!api) { return; }
        if (key === "j" || key === "k" || (!inGrid && (key === "ArrowDown" || key === "ArrowUp"))) {
            event.preventDefault();
            moveFocus(api, key === "j" || key === "ArrowDown" ? 1 : -1);
        } else if (key === " " && !inGrid) {
            const focused = api.getFocusedCell();
            if (!focused || focused.rowPinned) { return; }
            event.preventDefault();
            const node = api.getDisplayedRowAtIndex(focused.rowIndex);
            if (node) { node.setSelected(!node.isSelected()); }
        }
    });
})();
