// Which left record the candidate grid's rows belong to, told to the page (the grid's
// eventData, {record}) after every change of its rows and again as a decision button
// is pressed: a decision carries it, so the desk refuses one made while the grid still
// held another record's candidates. Ids and the row field are read from the page
// (data-review-ids, see keys.js), never typed here.
(function () {
    const dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
    const told = new WeakMap();

    // The record every row names in `field`, the pinned left row included, or null
    // while they do not agree (the grid is between two records).
    function recordOf(api, field) {
        const pinned = api.getPinnedTopRowCount() ? api.getPinnedTopRow(0) : null;
        let record = pinned && pinned.data && pinned.data[field] != null ? pinned.data[field] : null;
        api.forEachNode(function (node) {
            if (node.data && node.data[field] !== record) { record = null; }
        });
        return record;
    }

    // Called by the grid after its rows change (see the grid's eventListeners).
    dagfuncs.shownRecord = function (params, setEventData, field) {
        const record = recordOf(params.api, field);
        if (told.has(params.api) && told.get(params.api) === record) { return; }
        told.set(params.api, record);
        setEventData({record: record});
    };

    function tell(api, ids) {
        const record = recordOf(api, ids.field);
        if (told.has(api) && told.get(api) === record) { return; }
        told.set(api, record);
        window.dash_clientside.set_props(ids.grid, {
            eventData: {data: {record: record}, timestamp: Date.now()},
        });
    }

    // Once the grid is ready, say what it holds: rows it was created with come before
    // its listeners, so no event tells of them.
    window.tellShownRecord = function () {
        const ids = window.reviewIds();
        if (!ids) { return; }
        dash_ag_grid.getApiAsync(ids.grid).then(function (api) { tell(api, ids); },
            function () { return null; });
    };

    // A press of a decision button (by mouse or key) first tells the page what the grid
    // holds at that moment; the capture phase runs before the button's own handler.
    document.addEventListener("click", function (event) {
        const ids = window.reviewIds();
        const target = event.target && event.target.closest ? event.target.closest("button") : null;
        if (!ids || !target || Object.values(ids.keys).indexOf(target.id) === -1) { return; }
        let api = null;
        try { api = dash_ag_grid.getApi(ids.grid); } catch (e) { return; }
        told.delete(api);
        tell(api, ids);
    }, true);
})();
