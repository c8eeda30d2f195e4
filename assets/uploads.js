// Chunked, resumable uploads of the Data panel (server side: callbacks/uploads.py).
// A file chosen or dropped in an area marked data-upload-side is sent in chunks
// of the size the server names, in order, each with its offset. A failed chunk is
// tried again after asking the server how many bytes it holds; choosing the same
// file again in this tab goes on from there. When the last chunk is in, the
// upload id goes to the Data panel's inbox store and its callback reads the table.
(function () {
    const MB = 1024 * 1024;
    const TRIES = 6;
    const busy = {};

    function areaOf(node) {
        return node && node.closest ? node.closest("[data-upload-side]") : null;
    }

    function setProps(id, props) {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props(id, props);
        }
    }

    function progress(area, value, label, color) {
        setProps(area.dataset.progress, {
            value: value,
            label: label,
            color: color || "primary",
            className: "mt-1",
        });
    }

    function tell(area, message) {
        setProps(area.dataset.inbox, {
            data: {side: area.dataset.uploadSide, ...message, at: Date.now()},
        });
    }

    function sleep(ms) {
        return new Promise(function (resolve) { setTimeout(resolve, ms); });
    }

    async function answer(response) {
        let body = {};
        try { body = await response.json(); } catch (e) { body = {}; }
        // Only an answer with the upload's count is a success (not a sign-in page).
        const ok = response.ok && typeof body.received === "number";
        return {ok: ok, status: ok ? response.status : (response.ok ? 401 : response.status),
            body: ok || body.error || !response.ok ? body
                : {error: "sign in again, then choose the file again"}};
    }

    async function call(url, options) {
        const settings = options || {};
        return answer(await fetch(url, {
            credentials: "same-origin",
            ...settings,
            headers: {Accept: "application/json", ...(settings.headers || {})},
        }));
    }

    function resumeKey(file) {
        return "matchdesk-upload:" + [file.name, file.size, file.lastModified].join(":");
    }

    async function begin(file) {
        const saved = sessionStorage.getItem(resumeKey(file));
        if (saved) {
            try {
                const found = await call("upload/status?upload_id=" + encodeURIComponent(saved));
                if (found.ok) { return found; }
            } catch (e) { /* start again below */ }
            sessionStorage.removeItem(resumeKey(file));
        }
        const started = await call("upload/start", {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({name: file.name, size: file.size}),
        });
        if (started.ok) { sessionStorage.setItem(resumeKey(file), started.body.upload_id); }
        return started;
    }

    function amount(n) {
        if (n < MB) { return Math.ceil(n / 1024) + " KB"; }
        return (n / MB).toFixed(n < 10 * MB ? 1 : 0) + " MB";
    }

    async function send(area, file) {
        const side = area.dataset.uploadSide;
        progress(area, 0, "starting…");
        let state = await begin(file);
        if (!state.ok) { throw new Error(state.body.error || "the server refused the upload"); }
        const id = state.body.upload_id;
        const step = state.body.chunk_bytes || 8 * MB;
        let received = state.body.received;
        let failures = 0;
        while (received < file.size) {
            const pct = Math.floor((100 * received) / file.size);
            progress(area, pct, amount(received) + " of " + amount(file.size));
            const end = Math.min(received + step, file.size);
            let reply;
            try {
                reply = await call(
                    "upload/chunk?upload_id=" + id + "&offset=" + received,
                    {method: "POST", body: file.slice(received, end),
                     headers: {"Content-Type": "application/octet-stream"}},
                );
            } catch (e) {
                reply = {ok: false, status: 0, body: {}};
            }
            if (reply.ok) {
                received = reply.body.received;
                failures = 0;
                continue;
            }
            if (reply.status === 409 && typeof reply.body.received === "number") {
                received = reply.body.received;  // the server's count wins
                continue;
            }
            // 4xx: refused; 507: the server's disk is full. Both say why, and trying
            // the same chunk again would not help.
            const final = reply.status >= 400 && reply.status < 500 && reply.status !== 408;
            if (final || reply.status === 507) {
                sessionStorage.removeItem(resumeKey(file));
                throw new Error(reply.body.error || "the server refused a chunk");
            }
            failures += 1;
            if (failures > TRIES) {
                throw new Error(file.name + ": the connection to the server was lost at " +
                    amount(received) + "; choose the file again to go on from there");
            }
            progress(area, Math.floor((100 * received) / file.size),
                "connection lost, trying again…", "warning");
            await sleep(250 * 2 ** failures);
            try {
                const found = await call("upload/status?upload_id=" + id);
                if (found.ok) { received = found.body.received; }
            } catch (e) { /* the next chunk tries again */ }
        }
        sessionStorage.removeItem(resumeKey(file));
        progress(area, 100, amount(file.size) + " uploaded", "success");
        tell(area, {upload_id: id});
        return side;
    }

    async function upload(area, file) {
        const side = area.dataset.uploadSide;
        if (!file) { return; }
        if (busy[side]) {  // one file at a time per side: say so, the first one goes on
            tell(area, {name: file.name, busy: busy[side]});
            return;
        }
        const most = Number(area.dataset.maxBytes);
        if (most && file.size > most) {  // the server refuses it too; this spares the wait
            tell(area, {name: file.name, too_large: file.size});
            return;
        }
        busy[side] = file.name;
        try {
            await send(area, file);
        } catch (e) {
            progress(area, 0, "not uploaded", "danger");
            tell(area, {error: e.message});
        } finally {
            busy[side] = false;
        }
    }

    // Each upload area gets a hidden file input (Dash renders the area, not the input).
    function addInputs() {
        document.querySelectorAll("[data-upload-side]").forEach(function (area) {
            if (area.querySelector("input[type=file]")) { return; }
            const input = document.createElement("input");
            input.type = "file";
            input.accept = area.dataset.accept || "";
            input.className = "d-none";
            area.appendChild(input);
        });
    }

    new MutationObserver(addInputs).observe(document.documentElement, {
        childList: true, subtree: true,
    });

    document.addEventListener("click", function (event) {
        const area = areaOf(event.target);
        if (!area || event.target.tagName === "INPUT") { return; }
        const input = area.querySelector("input[type=file]");
        if (input) { input.click(); }
    });

    document.addEventListener("change", function (event) {
        const input = event.target;
        const area = areaOf(input);
        if (!area || input.type !== "file" || !input.files || !input.files.length) { return; }
        const file = input.files[0];
        input.value = "";  // the same file chosen again is a new change
        upload(area, file);
    });

    document.addEventListener("dragover", function (event) {
        if (areaOf(event.target)) { event.preventDefault(); }
    });

    document.addEventListener("drop", function (event) {
        const area = areaOf(event.target);
        if (!area) { return; }
        event.preventDefault();
        const files = event.dataTransfer && event.dataTransfer.files;
        if (files && files.length) { upload(area, files[0]); }
    });
})();
