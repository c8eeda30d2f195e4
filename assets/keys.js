// Keyboard shortcuts of the Review tab: a accept, n no match, s skip, u undo,
// j/k or arrows move the highlighted candidate, space toggles its selection,
// 1-9 pick the reason given with the next decision. The ids of the buttons, the grid
// and the reason choices are read from the page (data-review-ids, written from
// components/ids.py), never typed here; reviewIds() is shared with shown_record.js.
window.reviewIds = function () {
    const holder = document.querySelector("[data-review-ids]");
    if (!holder) { return null; }
    try { return JSON.parse(holder.dataset.reviewIds); } catch (e) { return null; }
};

(function () {
    function typing(target) {
        if (!target) { return false; }
        const tag = (target.tagName || "").toLowerCase();
        return tag === "input" || tag === "textarea" || tag === "select" ||
            target.isContentEditable ||
            !!(target.closest && target.closest(".ag-cell-inline-editing"));
    }

    function reviewVisible(ids) {
        const grid = document.getElementById(ids.grid);
        return !!grid && grid.offsetParent !== null;
    }

    function gridApi(ids) {
        try { return dash_ag_grid.getApi(ids.grid); } catch (e) { return null; }
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
        const ids = window.reviewIds();
        if (!ids || !reviewVisible(ids)) { return; }
        const key = event.key;
        const inGrid = !!(event.target.closest && event.target.closest(".ag-root-wrapper"));
        if (ids.keys[key]) {
            const button = document.getElementById(ids.keys[key]);
            if (button && !button.disabled) {
                event.preventDefault();
                button.click();
            }
            return;
        }
        if (/^[1-9]$/.test(key)) {
            const reasons = document.getElementById(ids.reasons);
            const choices = reasons ? reasons.querySelectorAll("input[type=radio]") : [];
            const choice = choices[Number(key) - 1];
            if (choice) {
                event.preventDefault();
                choice.click();
            }
            return;
        }
        const api = gridApi(ids);
        if (!api) { return; }
        if (key === "j" || key === "k" || (!inGrid && (key === "ArrowDown" || key === "ArrowUp"))) {
            event.preventDefault();
            moveFocus(api, key === "j" || key === "ArrowDown" ? 1 : -1);
        } else if (key === " ") {
            // In the grid too: its cells ignore typed keys (noEditByKey), space included,
            // but for the selection column's, which ticks its row itself.
            const focused = api.getFocusedCell();
            if (!focused || focused.rowPinned) { return; }
            if (inGrid && focused.column.getColDef().field == null) { return; }
            event.preventDefault();
            const node = api.getDisplayedRowAtIndex(focused.rowIndex);
            if (node) { node.setSelected(!node.isSelected()); }
        }
    });
})();
