// When the session ends while a page is open (signed out in another tab, password
// changed, user removed, cookie gone), the server refuses the page's callbacks.
// Instead of a page that silently stops answering, say so, with a link to sign in.
// Callback requests carry X-Matchdesk-Page, so the server answers "204, session ended"
// (Dash's "no update") instead of a 401 that the browser would log as an error.
(function () {
    const CALLBACK = "/_dash-update-component";
    const PAGE_HEADER = "X-Matchdesk-Page";
    const STATE_HEADER = "X-Matchdesk-Session";
    const BANNER = "session-banner";
    const send = window.fetch.bind(window);

    function callbackUrl(input) {
        const url = typeof input === "string" ? input : (input && input.url) || "";
        return url.indexOf(CALLBACK) !== -1;
    }

    function banner(kind) {
        let box = document.querySelector("." + BANNER);
        if (box && box.dataset.kind === "ended") { return; }
        if (!box) {
            box = document.createElement("div");
            box.className = BANNER;
            document.body.appendChild(box);
        }
        box.dataset.kind = kind;
        box.replaceChildren();
        const alert = document.createElement("div");
        alert.setAttribute("role", "alert");
        if (kind === "ended") {
            const next = window.location.pathname + window.location.search;
            const link = document.createElement("a");
            link.href = "/login?next=" + encodeURIComponent(next);
            link.className = "alert-link";
            link.textContent = "sign in again";
            alert.className = "alert alert-warning shadow mb-0";
            alert.append("Your session has ended — ", link,
                ". Your last action was not recorded; earlier decisions are saved.");
        } else {
            alert.className = "alert alert-danger shadow mb-0";
            alert.textContent = "matchdesk cannot check your session: its database is " +
                "unavailable. Your last action was not recorded; try again in a moment.";
        }
        box.appendChild(alert);
    }

    function clearUnavailable() {
        const box = document.querySelector("." + BANNER + "[data-kind='unavailable']");
        if (box) { box.remove(); }
    }

    window.fetch = function (input, init) {
        if (!callbackUrl(input)) { return send(input, init); }
        const options = Object.assign({}, init);
        const headers = new Headers(options.headers || {});
        headers.set(PAGE_HEADER, "1");
        options.headers = headers;
        return send(input, options).then(function (response) {
            const state = response.headers.get(STATE_HEADER);
            if (response.status === 401 || state === "ended") {
                banner("ended");
            } else if (state === "unavailable") {
                banner("unavailable");
            } else if (response.ok) {
                clearUnavailable();
            }
            return response;
        });
    };
})();
