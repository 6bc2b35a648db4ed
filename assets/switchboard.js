/* Switchboard's browser side: cell formatters and the overlay of the grids, the clientside callbacks
   (pause/resume, hidden tabs, theme, the freshness lines and the one-second timer) and the connection watch, whose only request
   is the public /healthz (see access/web.py), sent when the server has not been heard from lately. */
window.dashAgGridFunctions = window.dashAgGridFunctions || {};
window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};

(function () {
  "use strict";
  const grid = window.dashAgGridFunctions;
  const formatters = {};
  let clockOffsetMs = 0;
  const lastServerNow = {};
  let wasOff = false;

  // --- the connection to the dashboard's own server ---
  // A database outage is answered by the server (stale records); this is about the server or the network
  // being gone, which Dash only logs. Every answer from the server counts as contact; when there has been
  // none for a check period while polling, or a request failed, /healthz is asked with a short timeout.
  const HEALTH_PATH = "/healthz";
  const PROBE_TIMEOUT_MS = 3000;
  const RETRY_MS = 2000;
  const GATEWAY_DOWN = [502, 503, 504];  // what a reverse proxy answers when the app behind it is gone
  const baseTitle = document.title || "Switchboard";
  const connection = {lost: false, lostAt: null, lastContact: Date.now(), probing: false, polling: true};

  // A session that ended (expired, signed out elsewhere, user removed): go to the sign-in page
  // instead of leaving every widget stale.
  const originalFetch = window.fetch.bind(window);
  let leaving = false;
  window.fetch = function (resource, options) {
    const url = typeof resource === "string" ? resource : (resource && resource.url) || "";
    const ours = url.indexOf("/_dash-") !== -1;
    const poll = url.indexOf(DASH_UPDATE) !== -1 ? pollOf(options && options.body) : null;
    if (poll && poll.tickOnly && inFlight[poll.output] && inFlight[poll.output].signature === poll.signature) {
      return inFlight[poll.output].answer.then(function (response) { return response.clone(); });
    }
    // A request not asked for by a click that outlives the server's slowest answer hangs (a connection a network
    // dropped without a word): it is given up, as Dash sends no other request of its callback while one is
    // unanswered, and the widget would stand still for ever. A click's work (an export) may take longer.
    let giveUp = null;
    if (poll && !poll.clicked && !(options && options.signal)) {
      const abort = new AbortController();
      giveUp = window.setTimeout(function () { abort.abort(); }, answerTimeoutMs());
      options = Object.assign({}, options, {signal: abort.signal});
    }
    const send = poll && poll.batchable && settings().batchPath ? sendInBatch : originalFetch;
    const answer = send(resource, options).then(function (response) {
      if (response.status === 401 && ours && !leaving) {
        leaving = true;  // several polls may fail at once; one navigation
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
      }
      if (ours) { GATEWAY_DOWN.indexOf(response.status) === -1 ? heardFromServer() : checkConnection(); }
      return response;
    }, function (error) {
      if (ours) { checkConnection(); }
      throw error;
    });
    if (!poll) { return answer; }
    const entry = {signature: poll.signature, answer: answer};
    inFlight[poll.output] = entry;
    const settled = function () {
      window.clearTimeout(giveUp);
      if (inFlight[poll.output] === entry) { delete inFlight[poll.output]; }
    };
    answer.then(settled, settled);
    // Every reader gets a copy: the answer itself stays unread for the polls that share it.
    return answer.then(function (response) { return response.clone(); });
  };

  // A poll that finds the previous request of its callback still in flight, asking the same (only its interval
  // ticked), shares that request's answer instead of sending another. Dash applies only the answer to a
  // callback's newest request: a widget whose answers take longer than its interval (a slow database, a busy
  // server) would otherwise drop every answer for the next poll's and show "Loading…" for ever, while its
  // requests piled up on the server. So each callback has at most one poll in flight per page.
  const DASH_UPDATE = "/_dash-update-component";
  const inFlight = {};  // callback output key -> {signature, answer}

  // --- the polls of one tick, in one request (serving/batch.py) ---
  // A page's intervals start together and are multiples of one another: the polls due at a tick are sent within
  // a few milliseconds. Those sent within batchWindowMs of the first go as the parts of one POST to the page's
  // batchPath, and each part's answer comes back to its own request as if it had been sent alone.
  const batches = {};  // batch URL -> {parts: [{body, options, resolve, reject}], timer}

  function sendInBatch(resource, options) {
    const url = typeof resource === "string" ? resource : resource.url;
    const target = url.replace(DASH_UPDATE, settings().batchPath);
    return new Promise(function (resolve, reject) {
      const batch = batches[target] || (batches[target] = {parts: [], timer: null});
      const part = {resource: resource, options: options, resolve: resolve, reject: reject, aborted: false};
      batch.parts.push(part);
      const signal = options && options.signal;
      if (signal) {
        signal.addEventListener("abort", function () {
          part.aborted = true;
          reject(new DOMException("The request was given up.", "AbortError"));
        });
      }
      if (batch.timer === null) {
        batch.timer = window.setTimeout(function () { sendBatch(target); }, settings().batchWindowMs || 0);
      }
    });
  }

  function sendBatch(target) {
    const batch = batches[target];
    delete batches[target];
    const parts = batch.parts.filter(function (part) { return !part.aborted; });
    if (parts.length === 0) { return; }
    if (parts.length === 1) {  // alone in its window: sent as Dash sent it
      originalFetch(parts[0].resource, parts[0].options).then(parts[0].resolve, parts[0].reject);
      return;
    }
    // The batch outlives no part: given up with the slowest answer the page waits for.
    const abort = new AbortController();
    const giveUp = window.setTimeout(function () { abort.abort(); }, answerTimeoutMs());
    const first = parts[0].options || {};
    originalFetch(target, {
      method: "POST", credentials: first.credentials || "same-origin", headers: first.headers,
      body: JSON.stringify({parts: parts.map(function (part) { return JSON.parse(part.options.body); })}),
      signal: abort.signal,
    }).then(function (response) {
      if (!response.ok) {  // the batch itself refused (a session ended, a gateway down): every part's answer
        return response.text().then(function (text) {
          const type = response.headers.get("Content-Type") || "application/json";
          parts.forEach(function (part) { part.resolve(new Response(text, {status: response.status, headers: {"Content-Type": type}})); });
        });
      }
      return response.json().then(function (batchAnswer) {
        parts.forEach(function (part, index) {
          const answer = batchAnswer.answers[index];
          const empty = answer.status === 204 || answer.status === 304;
          part.resolve(new Response(empty ? null : answer.body, {status: answer.status, headers: {"Content-Type": answer.type}}));
        });
      });
    }).catch(function (error) {
      parts.forEach(function (part) { part.reject(error); });
    }).finally(function () { window.clearTimeout(giveUp); });
  }

  function pollOf(body) {
    if (typeof body !== "string") { return null; }
    let request;
    try { request = JSON.parse(body); } catch (error) { return null; }
    if (!request || typeof request.output !== "string") { return null; }
    const ticks = {};
    const inputs = (Array.isArray(request.inputs) ? request.inputs : []).map(function (input) {
      if (!input || input.property !== "n_intervals") { return input; }
      ticks[input.id + ".n_intervals"] = true;
      return {id: input.id, property: input.property};  // its count is not part of what is asked
    });
    const changed = Array.isArray(request.changedPropIds) ? request.changedPropIds : [];
    return {
      output: request.output,
      tickOnly: changed.length > 0 && changed.every(function (prop) { return ticks[prop] === true; }),
      batchable: changed.length > 0 && changed.every(function (prop) {
        return ticks[prop] === true || (settings().batchSignals || []).indexOf(prop) !== -1;
      }),
      clicked: changed.some(function (prop) { return /\.n_clicks$/.test(prop); }),
      signature: JSON.stringify([inputs, request.state || null]),
    };
  }

  function heardFromServer() {
    connection.lastContact = Date.now();
    if (connection.lost) { setLost(false); }
  }

  function setLost(lost) {
    connection.lost = lost;
    connection.lostAt = Date.now();
    const clientside = window.dash_clientside;
    if (clientside && clientside.set_props) {
      clientside.set_props("connection", {data: {lost: lost, since: connection.lastContact, at: Date.now()}});
    }
  }

  function checkConnection() {
    // One probe at a time; while the connection is lost, one every RETRY_MS until the server answers.
    if (connection.probing) { return; }
    connection.probing = true;
    // A black-holed request never settles by itself: the probe gives up after PROBE_TIMEOUT_MS.
    const abort = new AbortController();
    const timer = window.setTimeout(function () { abort.abort(); }, PROBE_TIMEOUT_MS);
    originalFetch(HEALTH_PATH, {cache: "no-store", credentials: "same-origin", signal: abort.signal})
      .then(function (response) { return response.ok; }, function () { return false; })
      .then(function (reachable) {
        window.clearTimeout(timer);
        connection.probing = false;
        if (reachable) {
          heardFromServer();
        } else {
          if (!connection.lost) { setLost(true); }
          window.setTimeout(checkConnection, RETRY_MS);
        }
      });
  }

  window.setInterval(function () {
    // A black-holed server fails no request: its answers just stop coming.
    const quietMs = Date.now() - connection.lastContact;
    const periodMs = (settings().connectionCheckSeconds || 5) * 1000;
    if (connection.polling && !connection.lost && quietMs > periodMs) { checkConnection(); }
  }, 1000);

  function settings() { return window.switchboardSettings || {}; }
  // How long the page waits for a poll's answer before it gives the request up (widgets/shell.py).
  function answerTimeoutMs() { return (settings().answerTimeoutSeconds || 15) * 1000; }
  // While the connection is lost, the page's clock stops (at the moment the loss was noticed, so that no
  // duration shown runs backwards): live durations stop ticking.
  function now() { return (connection.lost ? connection.lostAt : Date.now()) + clockOffsetMs; }

  function formatter(kind) {
    const zone = settings().displayTimezone;
    const key = kind + "|" + (zone || "");
    if (!formatters[key]) {
      const options = kind === "time"
        ? {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}
        : kind === "clock" ? {weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false}
          : {month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false};
      try {
        formatters[key] = new Intl.DateTimeFormat(undefined, Object.assign({timeZone: zone}, options));
      } catch (error) {  // an unknown zone name: fall back to the browser's own
        formatters[key] = new Intl.DateTimeFormat(undefined, options);
      }
    }
    return formatters[key];
  }

  grid.switchboardElapsed = function (startEpoch) {
    if (startEpoch === undefined || startEpoch === null) { return null; }
    return Math.max(0, Math.floor(now() / 1000 - startEpoch));
  };

  grid.switchboardDuration = function (seconds) {
    if (seconds === undefined || seconds === null) { return ""; }
    const whole = Math.round(seconds);
    const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  };

  grid.switchboardClock = function (epoch) {
    return epoch === undefined || epoch === null ? "" : formatter("time").format(new Date(epoch * 1000));
  };

  // --- the wallboard (widgets/wallboard.py): it reloads itself, with a growing pause between attempts ---
  const WALL_RELOADS = "switchboard-wall-reloads";
  const wall = {lastSeen: null, lastChange: Date.now(), wasLost: false, wanted: false, pending: false,
                zoneDrawn: null};

  function reloadWall() {
    if (wall.pending) { return; }
    wall.pending = true;
    const attempts = Number(window.sessionStorage.getItem(WALL_RELOADS) || "0");
    const delayMs = Math.min(300000, 10000 * Math.pow(2, attempts));
    window.setTimeout(function () {
      // Only when the page loads again: a reload into a server that is gone would leave the TV on an error page.
      const abort = new AbortController();
      const timer = window.setTimeout(function () { abort.abort(); }, PROBE_TIMEOUT_MS);
      originalFetch(window.location.pathname, {cache: "no-store", credentials: "same-origin", signal: abort.signal})
        .then(function (response) { return response.ok; }, function () { return false; })
        .then(function (loads) {
          window.clearTimeout(timer);
          window.sessionStorage.setItem(WALL_RELOADS, String(attempts + 1));
          wall.pending = false;
          if (loads) { window.location.reload(); }
        });
    }, delayMs);
  }

  // --- the per-company table (widgets/company_kpis.py): a level is said in words, the colour only adds to it ---
  const LEVEL_WORDS = {ok: "ok", watch: "watch", alert: "\u26a0 alert"};

  grid.switchboardPercent = function (value) {
    return value === undefined || value === null ? "" : value.toFixed(1) + " %";
  };

  grid.switchboardLevelled = function (text, level) {
    if (!text) { return "\u2013"; }
    return LEVEL_WORDS[level] ? text + " \u00b7 " + LEVEL_WORDS[level] : text;
  };

  grid.switchboardWholePercent = function (value) {
    return value === undefined || value === null ? "" : Math.round(value) + " %";
  };

  window.dashAgGridComponentFunctions.SwitchboardLevelCell = function (props) {
    // The wallboard's judged figures: the value, and its level's word in smaller type beside it.
    const level = props.data && props.data[props.colDef.field + "_lv"];
    const value = props.value === undefined || props.value === null ? "\u2013"
      : props.format === "duration" ? grid.switchboardDuration(props.value) : grid.switchboardWholePercent(props.value);
    // Too few calls to judge (JUDGE_MIN_CALLS): no level, the count it stands on instead ("0 % · n=3").
    const count = props.data && props.data[props.colDef.field + "_n"];
    const counted = count !== undefined && count !== null && props.value !== undefined && props.value !== null;
    return React.createElement("span", {className: "wall-level"}, value,
      level ? React.createElement("span", {className: "wall-level-word"}, " " + LEVEL_WORDS[level])
        : counted ? React.createElement("span", {className: "wall-level-word wall-level-count"}, " \u00b7 n=" + count)
        : null);
  };

  window.dashAgGridComponentFunctions.SwitchboardCompanyLink = function (props) {
    // The activity feed filtered to this company (its URL filters, widgets/feed_filters.py).
    const id = props.data && props.data.id;
    // Not a Tab stop of its own: the grid is one (Enter on the focused cell follows the link).
    return React.createElement("a", {href: "/?company=" + encodeURIComponent(id), className: "company-link",
                                     tabIndex: -1, title: "Activity of " + props.value}, props.value);
  };

  grid.switchboardDateTime = function (epoch) {
    return epoch === undefined || epoch === null ? "" : formatter("datetime").format(new Date(epoch * 1000));
  };

  function age(ms) {
    const seconds = Math.max(0, Math.round(ms / 1000));
    if (seconds < 60) { return seconds + "s"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s"; }
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }

  function describe(freshness) {
    if (connection.lost) {
      const since = freshness && freshness.ok_at ? "last update " + grid.switchboardClock(freshness.ok_at) : "no data yet";
      return ["⚠ connection lost · " + since, "freshness stale"];
    }
    if (!freshness) { return ["loading…", "freshness"]; }
    if (freshness.stale) {
      const since = freshness.ok_at ? "last update " + grid.switchboardClock(freshness.ok_at) : "no data yet";
      return ["⚠ stale · " + since + " · " + freshness.reason, "freshness stale"];
    }
    return ["updated " + age(now() - freshness.ok_at * 1000) + " ago", "freshness"];
  }

  // A grid's overlay when it has no rows: loading, the failure that left it empty, or its empty text.
  function overlayText(freshness, empty) {
    if (connection.lost) { return {text: "Could not load: connection lost", failed: true}; }
    if (!freshness) { return {text: "Loading…", failed: false}; }
    if (freshness.stale) { return {text: "Could not load: " + freshness.reason, failed: true}; }
    return {text: empty, failed: false};
  }

  window.dashAgGridComponentFunctions.SwitchboardOverlay = function (props) {
    return React.createElement("div", {className: props.failed ? "grid-overlay grid-overlay-failed" : "grid-overlay"},
                               (props.failed ? "⚠ " : "") + props.text);
  };

  function noteServerClock(name, freshness) {
    if (freshness && freshness.server_now && lastServerNow[name] !== freshness.server_now) {
      lastServerNow[name] = freshness.server_now;
      clockOffsetMs = freshness.server_now * 1000 - Date.now();
    }
  }

  document.addEventListener("visibilitychange", function () {
    const clientside = window.dash_clientside;
    if (clientside && clientside.set_props) {
      clientside.set_props("page-visibility", {data: {hidden: document.hidden, at: Date.now()}});
    }
  });


  // --- the call details (widgets/call_details.py): rows open them through the link's ?call= ---
  // Where focus goes back when the panel closes: the grid and row it was opened from.
  let returnFocus = null;
  // Set when a row opens the panel, cleared once the focus has moved into it: the panel takes the focus once,
  // never again on a later poll (which would pull it off the customer's name when their history closes).
  let focusIntoCall = false;

  function searchWith(search, key, value) {
    // The link with one panel's key set (or taken out, for null), every other key kept.
    const params = new URLSearchParams(search || "");
    if (value === null) { params.delete(key); } else { params.set(key, String(value)); }
    const text = params.toString();
    return text ? "?" + text : "";
  }

  function searchWithCall(search, callId) { return searchWith(search, "call", callId); }

  function callIdOfRow(rowId) {
    // Ongoing calls' rows are the call's id; the feed's are "c<id>" or "a<id>" (appointments have no details).
    const text = String(rowId === undefined || rowId === null ? "" : rowId);
    const match = /^c?(\d+)$/.exec(text);
    return match ? match[1] : null;
  }

  function openFromRow(gridId, rowId, rowIndex) {
    const callId = callIdOfRow(rowId);
    if (callId === null) { return null; }
    returnFocus = {grid: gridId, rowIndex: rowIndex};
    focusIntoCall = true;
    return callId;
  }

  // Once, when the call opens; from a customer's history, once the history (a panel and a callback of its own,
  // answered before or after this one) has closed: over an open history, the focus stays in the history.
  const FOCUS_WAIT_TRIES = 50;  // of 100 ms
  function focusIntoCallAlone(close, panel, tries) {
    if (!focusIntoCall) { return; }
    if (isOpen("customer-panel")) {
      if (tries > 0) { window.setTimeout(function () { focusIntoCallAlone(close, panel, tries - 1); }, 100); }
      else { focusIntoCall = false; }
      return;
    }
    focusIntoCall = false;
    if (!panel.contains(document.activeElement)) { close.focus(); }
  }

  function focusBack() {
    const back = returnFocus;
    returnFocus = null;
    focusIntoCall = false;
    if (!back) { return; }
    try {
      const api = window.dash_ag_grid.getApi(back.grid);
      const column = api.getAllDisplayedColumns()[0];
      api.ensureIndexVisible(back.rowIndex);
      api.setFocusedCell(back.rowIndex, column);
    } catch (error) { /* the row is gone (the call ended): focus stays where it is */ }
  }

  // --- the customer history (widgets/customer_history.py): names open it through the link's ?customer= ---
  // Where focus goes back when it closes: the name in the call's details, or the grid cell it was opened from.
  let customerReturn = null;

  function isOpen(id) {
    const panel = document.getElementById(id);
    return Boolean(panel && !panel.hidden);
  }

  function customerOfRow(gridId, rowId) {
    try {
      const node = window.dash_ag_grid.getApi(gridId).getRowNode(String(rowId));
      return node && node.data && node.data.cid ? String(node.data.cid) : null;
    } catch (error) { return null; }
  }

  function customerFocusBack() {
    const back = customerReturn;
    customerReturn = null;
    if (back && back.grid) {
      try {
        const api = window.dash_ag_grid.getApi(back.grid);
        api.ensureIndexVisible(back.rowIndex);
        api.setFocusedCell(back.rowIndex, "cust");
        return;
      } catch (error) { /* the row is gone: on to the panel below */ }
    }
    // The call's details may have been redrawn since: its name link is found again.
    const link = back && back.element && document.contains(back.element) ? back.element
      : document.querySelector("#call-panel:not([hidden]) a.customer-link");
    if (link) { link.focus(); return; }
    if (isOpen("call-panel")) { document.getElementById("call-close").focus(); }
  }

  window.dashAgGridComponentFunctions.CustomerLink = function (props) {
    // A customer's name as a link to their history; a click on the cell opens it (openCall), so the link
    // only keeps the browser from loading the page again (a new tab, with a modifier, still opens).
    const id = props.data && props.data.cid;
    if (!id || !props.value) { return props.value || ""; }
    return React.createElement("a", {
      href: "?customer=" + id, className: "customer-link", tabIndex: -1, title: "Open the customer's history",
      onClick: function (event) {
        if (!event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) { event.preventDefault(); }
      }}, props.value);
  };

  function onPanelLink(selector, follow) {
    // A link inside a side panel that the page follows itself (through the link's query string) on a plain
    // left click or Enter; a click with a modifier opens it in a new tab as the browser would.
    document.addEventListener("click", function (event) {
      const link = event.target.closest && event.target.closest(selector);
      const clientside = window.dash_clientside;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0
          || !clientside || !clientside.set_props) { return; }
      event.preventDefault();
      clientside.set_props("url", {search: follow(link)});
    });
  }

  // The customer's name in a call's details (the grids' names go through their cellClicked).
  onPanelLink("#call-panel a.customer-link[data-customer]", function (link) {
    customerReturn = {element: link};
    return searchWith(window.location.search, "customer", link.dataset.customer);
  });

  // A call's time in the customer's history: the history closes and the call's details open in its place.
  onPanelLink("#customer-panel a.call-link[data-call]", function (link) {
    returnFocus = null;
    customerReturn = null;  // the focus goes into the call, not back to where the history was opened from
    focusIntoCall = true;
    return searchWithCall(searchWith(window.location.search, "customer", null), link.dataset.call);
  });

  document.addEventListener("keydown", function (event) {
    const clientside = window.dash_clientside;
    if (event.key === "Escape") {
      if (isOpen("customer-panel")) {  // the topmost panel first
        document.getElementById("customer-close").click(); event.preventDefault();
        return;
      }
      const panel = document.getElementById("call-panel");
      if (panel && !panel.hidden) { document.getElementById("call-close").click(); event.preventDefault(); }
      return;
    }
    if (event.key !== "Enter" || !clientside || !clientside.set_props) { return; }
    const companyLink = event.target.closest && event.target.closest("#kpi-grid .ag-cell")
      && event.target.closest(".ag-cell").querySelector("a.company-link");
    if (companyLink) { companyLink.click(); return; }
    const row = event.target.closest && event.target.closest(".ag-row");
    const grid = row && row.closest("#ongoing-grid, #activity-grid");
    if (!grid) { return; }
    const cell = event.target.closest(".ag-cell");
    const customer = cell && cell.getAttribute("col-id") === "cust" ? customerOfRow(grid.id, row.getAttribute("row-id")) : null;
    if (customer !== null) {
      customerReturn = {grid: grid.id, rowIndex: Number(row.getAttribute("row-index"))};
      clientside.set_props("url", {search: searchWith(window.location.search, "customer", customer)});
      return;
    }
    const callId = openFromRow(grid.id, row.getAttribute("row-id"), Number(row.getAttribute("row-index")));
    if (callId !== null) {
      clientside.set_props("url", {search: searchWithCall(window.location.search, callId)});
    }
  });

  // --- the page's one live region: state changes, never the lines that tick ---
  const announced = {stale: {}, polling: "Live", alert: ""};
  let announceTimer = null;

  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region || !text) { return; }
    // Emptied first and written a moment later, so that the same words twice are read twice.
    region.textContent = "";
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(function () { region.textContent = text; }, 150);
  }

  function panelName(statusId) {
    const status = document.getElementById(statusId);
    const heading = status && status.closest("section, aside") && status.closest("section, aside").querySelector("h2");
    return heading ? heading.textContent : statusId;
  }

  function announceFreshness(statusId, freshness) {
    // Stale and recovered, once each; the first record (loading -> data) is no change worth saying.
    if (!freshness || connection.lost) { return; }
    const before = announced.stale[statusId];
    const now = Boolean(freshness.stale);
    announced.stale[statusId] = now;
    if (before === undefined || before === now) { return; }
    announce(now ? panelName(statusId) + ": stale, " + freshness.reason : panelName(statusId) + ": recovered");
  }

  // --- what changes every second between polls ---
  // The freshness lines' ages and the ongoing calls' durations, rewritten by one timer in the page rather than
  // by a Dash callback per line each second: those cost the page a fifth of a core, on a phone all night. Each
  // line's freshness is the one its Dash callback (freshnessLine) last wrote; the timer writes the text node
  // React made for it, so React's next write of the line finds its own node. Paused, the ages go on counting
  // (the data does grow older) and the durations of a list no longer live stand still; hidden, nothing moves.
  const lines = {};  // freshness line id -> the freshness it shows

  function refreshDurations() {
    try {
      const api = window.dash_ag_grid && window.dash_ag_grid.getApi("ongoing-grid");
      if (api) { api.refreshCells({columns: ["duration"]}); }
    } catch (error) { /* no ongoing calls on this page, or the grid is not ready yet */ }
  }

  window.setInterval(function () {
    if (document.hidden) { return; }
    Object.keys(lines).forEach(function (statusId) {
      const line = document.getElementById(statusId);
      const text = line && line.firstChild;
      const wanted = describe(lines[statusId])[0];
      if (text && text.nodeType === Node.TEXT_NODE && text.nodeValue !== wanted) { text.nodeValue = wanted; }
    });
    if (connection.polling && !connection.lost) { refreshDurations(); }
  }, 1000);

  window.setInterval(function () {
    // The alerts' header indicator: "Alert: 2 firing · …" is said when it appears or changes, not every poll.
    const indicator = document.getElementById("alerts-header");
    const text = indicator ? indicator.textContent : "";
    if (text !== announced.alert) {
      if (text) { announce(text); } else if (announced.alert) { announce("No alert firing"); }
      announced.alert = text;
    }
  }, 1000);

  // --- small screens: below 700 px a grid shows its key columns, the rest on demand ---
  const SMALL = window.matchMedia ? window.matchMedia("(max-width: 700px)") : {matches: false};
  const fittedGrids = {};  // grid id -> "small" / "all": what was last applied

  function fitGridColumns() {
    document.querySelectorAll("button.more-columns[data-grid]").forEach(function (button) {
      const gridId = button.dataset.grid;
      const keep = button.dataset.keep.split(",");
      const all = !SMALL.matches || button.getAttribute("aria-pressed") === "true";
      const wanted = all ? "all" : "small";
      let api = null;
      try { api = window.dash_ag_grid.getApi(gridId); } catch (error) { return; }  // not ready yet
      if (!api || fittedGrids[gridId] === wanted) { return; }
      // Columns the server hid for this viewer (one company: no company column) stay hidden.
      const optional = api.getColumns().filter(function (column) {
        return !column.getColDef().hide && keep.indexOf(column.getColId()) === -1;
      });
      api.setColumnsVisible(optional, all);
      api.sizeColumnsToFit();
      fittedGrids[gridId] = wanted;
    });
  }
  if (SMALL.addEventListener) { SMALL.addEventListener("change", fitGridColumns); }
  window.setInterval(fitGridColumns, 1000);  // grids appear when Dash has drawn them
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("button.more-columns");
    if (!button) { return; }
    const pressed = button.getAttribute("aria-pressed") === "true";
    button.setAttribute("aria-pressed", String(!pressed));
    button.textContent = pressed ? "More columns" : "Fewer columns";
    fitGridColumns();
  });

  // --- wide tables: a grid whose columns carry a drop order (colDef.context.drop, 1 first) shows what its width
  // holds without sideways scrolling: the next column to drop goes while the shown ones are wider than the grid,
  // and comes back once its last width fits again. Columns the server hid stay hidden.
  function fitColumnsByPriority(wrapper, api) {
    if (!wrapper.isConnected || (api.isDestroyed && api.isDestroyed())) { return false; }
    const droppable = api.getColumns().filter(function (column) {
      const context = column.getColDef().context;
      return context && context.drop && !column.getColDef().hide;
    }).sort(function (a, b) { return a.getColDef().context.drop - b.getColDef().context.drop; });
    const viewport = wrapper.querySelector(".ag-center-cols-viewport");
    if (!droppable.length || !viewport || !viewport.clientWidth) { return false; }
    const shownWidth = function () {
      return api.getDisplayedCenterColumns().reduce(function (sum, column) { return sum + column.getActualWidth(); }, 0);
    };
    // The pinned columns (the company) take their width from the same space as the scrolling ones: the room
    // left to these is what the pinned ones leave once sized, not the viewport's width before.
    const pinnedWidth = function () {
      return api.getDisplayedLeftColumns().concat(api.getDisplayedRightColumns())
        .reduce(function (sum, column) { return sum + column.getActualWidth(); }, 0);
    };
    const space = viewport.clientWidth + pinnedWidth();
    const room = function () { return space - pinnedWidth(); };
    // Widths as the headers and the cells need them now, every shown column's (a column sized while hidden, or
    // before its rows came, would cut its header or its longest value).
    api.autoSizeColumns(api.getAllDisplayedColumns(), false);
    const hidden = droppable.filter(function (column) { return !column.isVisible(); });
    // Back first, the most important first, while each fits whole.
    for (let index = hidden.length - 1; index >= 0; index -= 1) {
      if (shownWidth() + hidden[index].getActualWidth() > room()) { break; }
      api.setColumnsVisible([hidden[index]], true);
      api.autoSizeColumns([hidden[index]]);  // its width as its header and cells need it now
      if (shownWidth() > room()) { api.setColumnsVisible([hidden[index]], false); break; }
    }
    const shown = droppable.filter(function (column) { return column.isVisible(); });
    for (let index = 0; index < shown.length && shownWidth() > room(); index += 1) {
      api.setColumnsVisible([shown[index]], false);
    }
    return true;
  }

  const FIT_PASSES = 8;  // frames a fitting may take, and later refittings per fitting

  function scrollsSideways(wrapper) {
    const viewport = wrapper.querySelector(".ag-center-cols-viewport");
    return Boolean(viewport) && viewport.scrollWidth > viewport.clientWidth;
  }

  function fitUntilSettled(wrapper, api, passes) {
    // A column can be measured only once it is drawn, and hiding one draws those beside it; AG Grid may apply
    // the widths it sized after this frame: fit again on the next frame while the shown columns change or the
    // grid still scrolls sideways (a few passes at most).
    const before = api.getAllDisplayedColumns().map(function (column) { return column.getColId(); }).join();
    const fitted = fitColumnsByPriority(wrapper, api);
    const after = api.getAllDisplayedColumns().map(function (column) { return column.getColId(); }).join();
    if ((after !== before || (fitted && scrollsSideways(wrapper))) && passes > 1) {
      window.requestAnimationFrame(function () { fitUntilSettled(wrapper, api, passes - 1); });
    }
  }

  // Each grid is fitted when its rows change and when its width does, not on a timer: a wallboard or a phone
  // left open all night does no layout work between polls. Grids are found as Dash mounts them.
  function hookGridsForFitting() {
    document.querySelectorAll(".ag-root-wrapper:not([data-fit-hooked])").forEach(function (wrapper) {
      const host = wrapper.closest("[id]");
      let api = null;
      try { api = host && window.dash_ag_grid.getApi(host.id); } catch (error) { return; }
      if (!api) { return; }
      wrapper.setAttribute("data-fit-hooked", "");
      let refits = 0;
      const fit = function () { refits = 0; fitUntilSettled(wrapper, api, FIT_PASSES); };
      wrapper.switchboardFit = fit;
      // AG Grid may apply the widths it sizes frames later (once the cells it measures are drawn): widths that
      // came after the last fitting and overflow the grid are fitted again, a few times per fitting at most.
      api.addEventListener("columnResized", function (event) {
        if (!event.finished || refits >= FIT_PASSES || !scrollsSideways(wrapper)) { return; }
        refits += 1;
        window.requestAnimationFrame(function () { fitUntilSettled(wrapper, api, 1); });
      });
      api.addEventListener("rowDataUpdated", fit);
      api.addEventListener("firstDataRendered", fit);
      api.addEventListener("gridSizeChanged", fit);  // the panel's width changed (the window, a layout)
      fit();
    });
  }
  window.setInterval(hookGridsForFitting, 1000);
  // Web fonts change every width once they load: the columns are measured again then.
  if (document.fonts && document.fonts.ready && typeof document.fonts.ready.then === "function") {
    document.fonts.ready.then(function () {
      document.querySelectorAll(".ag-root-wrapper[data-fit-hooked]").forEach(function (wrapper) {
        if (wrapper.switchboardFit) { wrapper.switchboardFit(); }
      });
    });
  }

  // --- keyboard ---
  // Dash 4's dropdown puts an aria-hidden, focusable input before its button and forwards focus from it:
  // a Tab stop screen readers are told does not exist (axe: aria-hidden-focus). The button itself becomes the
  // stop, and stays one after the dropdown's own blur handler gives the input its tabindex back.
  function fixDropdowns() {
    document.querySelectorAll(".dash-dropdown-focus-target").forEach(function (target) {
      if (target.tabIndex !== -1) { target.tabIndex = -1; }
      const button = target.nextElementSibling;
      if (button && button.tagName === "BUTTON" && !button.disabled && button.tabIndex !== 0) { button.tabIndex = 0; }
    });
  }
  let fixPending = false;
  new MutationObserver(function () {
    if (fixPending) { return; }
    fixPending = true;
    window.requestAnimationFrame(function () { fixPending = false; fixDropdowns(); });
  }).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener("focusout", function (event) {
    if (event.target.closest && event.target.closest(".dash-dropdown-wrapper")) { fixDropdowns(); }
  });

  // Tabbing into a grid (one Tab stop: its tabToNextCell / tabToNextHeader hand Tab back to the browser) lands on
  // its first row, so Enter opens it and the arrows move on; an empty grid keeps AG Grid's header focus.
  document.addEventListener("focusin", function (event) {
    const target = event.target;
    const wrapper = target.closest && target.closest(".ag-root-wrapper");
    if (!wrapper || !target.classList.contains("ag-header-cell")) { return; }
    const from = event.relatedTarget;  // AG Grid's tab guards pass the focus on: they count as outside
    if (from && wrapper.contains(from) && !from.classList.contains("ag-tab-guard")) { return; }  // arrows inside
    const api = gridApiOf(wrapper);
    window.setTimeout(function () {  // after AG Grid's own handling of the header's focus
      try {
        const column = api.getAllDisplayedColumns()[0];
        if (!column || !api.getDisplayedRowCount() || !wrapper.contains(document.activeElement)) { return; }
        api.ensureIndexVisible(0);
        api.setFocusedCell(0, column);
        const cell = wrapper.querySelector('.ag-row[row-index="0"] .ag-cell[col-id="' + CSS.escape(column.getColId()) + '"]');
        if (cell) { cell.focus(); }
      } catch (error) { /* not ready: AG Grid's own focus stays */ }
    }, 0);
  });
  // Leaving a grid forgets its focused cell: AG Grid would otherwise take the focus back into the grid when that
  // row is drawn again (the ongoing calls' durations are redrawn every second), trapping Tab inside it.
  document.addEventListener("focusout", function (event) {
    const wrapper = event.target.closest && event.target.closest(".ag-root-wrapper");
    if (!wrapper || (event.relatedTarget && wrapper.contains(event.relatedTarget))) { return; }
    if (!event.relatedTarget && !document.hasFocus()) { return; }  // another window took the focus: keep the place
    const api = gridApiOf(wrapper);
    if (api) { api.clearFocusedCell(); }
  });

  // A refresh draws the open call's details and the customer's history again as new elements (Dash replaces a
  // component's children rather than patching them), so a link or button focused inside would drop the focus
  // to <body> at every poll. The focus moves to the new element that stands where the old one stood.
  const REDRAWN_BODIES = "#call-body, #customer-body";
  let focusedInBody = null;

  function alike(body, place) {
    // The elements of the body with the same kind, classes and text: what a redraw keeps.
    return Array.prototype.filter.call(body.querySelectorAll(place.tag), function (other) {
      return other.className === place.className && other.textContent === place.text;
    });
  }

  function placeInBody(element, body) {
    const place = {body: body.id, tag: element.tagName, className: element.className, text: element.textContent};
    place.index = alike(body, place).indexOf(element);
    return place;
  }

  document.addEventListener("focusin", function (event) {
    const body = event.target.closest && event.target.closest(REDRAWN_BODIES);
    focusedInBody = body ? {element: event.target, place: placeInBody(event.target, body)} : null;
  });
  document.addEventListener("focusout", function (event) {
    const focused = focusedInBody;
    if (!focused || event.target !== focused.element || event.relatedTarget) { return; }
    window.setTimeout(function () {  // after the redraw has put the new elements in
      const active = document.activeElement;
      if (document.contains(focused.element) || (active && active !== document.body)) { return; }
      const body = document.getElementById(focused.place.body);
      if (!body) { return; }
      const like = alike(body, focused.place);
      const again = like[Math.max(0, Math.min(focused.place.index, like.length - 1))];
      if (again) { again.focus({preventScroll: true}); }
    }, 0);
  });

  function gridApiOf(wrapper) {
    const host = wrapper.closest(".grid[id]") || wrapper.closest("[id]");
    try { return host ? window.dash_ag_grid.getApi(host.id) : null; } catch (error) { return null; }
  }

  // A skip link moves focus to its panel's heading (without touching the link's URL, which holds the filters).
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a.skip-link");
    if (!link) { return; }
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    event.preventDefault();
    target.setAttribute("tabindex", "-1");
    target.focus({preventScroll: true});
    target.scrollIntoView({block: "start"});
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.switchboard = {
      openCall: function (ongoingClick, feedClick, search) {
        const triggered = window.dash_clientside.callback_context.triggered_id;
        const click = triggered === "ongoing-grid" ? ongoingClick : feedClick;
        const customer = click && click.colId === "cust" ? customerOfRow(triggered, click.rowId) : null;
        if (customer !== null) {
          customerReturn = {grid: triggered, rowIndex: click.rowIndex};
          return searchWith(search, "customer", customer);
        }
        const callId = click ? openFromRow(triggered, click.rowId, click.rowIndex) : null;
        if (callId === null) { return window.dash_clientside.no_update; }
        return searchWithCall(search, callId);
      },

      closeCall: function (clicks, search) {
        window.setTimeout(focusBack, 0);  // after the panel is hidden
        return searchWithCall(search, null);
      },

      detailsPolling: function (live, paused, visibility, link, hidden) {
        // The open call's details refresh at the ongoing interval while it is ongoing and the page polls.
        if (!hidden) {
          const close = document.getElementById("call-close");
          const panel = document.getElementById("call-panel");
          if (close && panel && focusIntoCall) { focusIntoCallAlone(close, panel, FOCUS_WAIT_TRIES); }
        }
        return Boolean(hidden) || !live || Boolean(paused) || Boolean(visibility && visibility.hidden)
          || Boolean(link && link.lost);
      },

      closeCustomer: function (clicks, search) {
        window.setTimeout(customerFocusBack, 0);  // after the panel is hidden
        return searchWith(search, "customer", null);
      },

      customerShown: function (hidden) {
        // Focus moves into the history when it opens (from a name, or a link followed from elsewhere).
        const panel = document.getElementById("customer-panel");
        if (!hidden && panel && !panel.contains(document.activeElement)) {
          document.getElementById("customer-close").focus();
        }
        return window.dash_clientside.no_update;
      },

      renderPayload: function (payload, query, openCall, expandClicks) {
        // The fetched column as text only (React escapes it), one collapsible section per top-level key, the
        // scalar ones open; a search keeps the lines that contain it and opens the sections that have any;
        // "Expand all" opens every section until pressed again ("Collapse all").
        const expanded = (expandClicks || 0) % 2 === 1;
        const expandLabel = expanded ? "Collapse all" : "Expand all";
        if (!payload || payload.call !== openCall) { return [[], true, expandLabel, true, "false"]; }
        const needle = (query || "").trim().toLowerCase();
        const sections = [];
        (payload.sections || []).forEach(function (section) {
          let text = section.text;
          if (needle) {
            const lines = text.split("\n").filter(function (line) { return line.toLowerCase().indexOf(needle) !== -1; });
            if (!lines.length && section.key.toLowerCase().indexOf(needle) === -1) { return; }
            text = lines.join("\n");
          }
          sections.push({namespace: "dash_html_components", type: "Details",
                         props: {open: expanded || Boolean(needle) || Boolean(section.scalar) || payload.sections.length === 1,
                                 className: "payload-section",
                                 children: [{namespace: "dash_html_components", type: "Summary", props: {children: section.key}},
                                            {namespace: "dash_html_components", type: "Pre", props: {children: text}}]}});
        });
        if (!sections.length) {
          sections.push({namespace: "dash_html_components", type: "P", props: {children: needle ? "No line contains it." : "Empty."}});
        }
        const several = (payload.sections || []).length > 1;
        return [sections, false, expandLabel, !several, expanded ? "true" : "false"];
      },

      togglePause: function (clicks, paused) {
        const next = !paused;
        return [next, next ? "Resume" : "Pause", next ? "true" : "false"];
      },

      applyPolling: function (paused, visibility, link, signal) {
        const hidden = Boolean(visibility && visibility.hidden);
        const lost = Boolean(link && link.lost);
        const off = Boolean(paused) || hidden || lost;
        // Coming back from a pause, a hidden tab or a lost connection: refresh every widget at once.
        const bump = wasOff && !off ? (signal || 0) + 1 : window.dash_clientside.no_update;
        wasOff = off;
        connection.polling = !(Boolean(paused) || hidden);
        if (!connection.polling) { connection.lastContact = Date.now(); }  // quiet on purpose, not lost
        document.title = lost ? "Connection lost · " + baseTitle : baseTitle;
        const label = lost ? "Connection lost · retrying" : paused ? "Paused" : (hidden ? "Paused while hidden" : "Live");
        const state = lost ? "polling-state lost" : (paused || hidden ? "polling-state paused" : "polling-state");
        if (label !== announced.polling && !hidden) {  // a hidden tab is heard by nobody
          announce(lost ? "Connection lost, retrying" : (announced.polling.indexOf("Connection lost") === 0
            ? "Connection back" + (paused ? ", paused" : ", live") : label));
        }
        if (!hidden) { announced.polling = label; }
        return [label, state, bump];
      },

      whileShown: function (visibility) {
        // An interval that runs while the tab is shown, paused or not (the wall's clock): disabled while hidden.
        return Boolean(visibility && visibility.hidden);
      },

      followPolling: function (paused, visibility, link) {
        // One widget's interval: off while paused or hidden, and while the server cannot be reached
        // (the connection watch retries; recovering refreshes every widget through applyPolling).
        return Boolean(paused) || Boolean(visibility && visibility.hidden) || Boolean(link && link.lost);
      },

      gridOverlay: function (freshness, link, options) {
        // What an empty grid says: an error never looks like an empty result.
        const params = (options && options.noRowsOverlayComponentParams) || {};
        const next = overlayText(freshness, params.empty);
        const outputs = window.dash_clientside.callback_context.outputs_list;
        const gridId = Array.isArray(outputs) ? outputs[0].id : outputs.id;
        const shown = document.querySelector("#" + CSS.escape(gridId) + " .grid-overlay");
        const wanted = (next.failed ? "\u26a0 " : "") + next.text;
        const stored = next.text === params.text && next.failed === params.failed;
        // The stored options can be ahead of the grid: an update that reached AG Grid while it was still
        // building its overlay is not drawn, and equal options would never be sent again. So the overlay on
        // screen is compared too, and a new revision makes AG Grid redraw it with the same text.
        if (stored && (!shown || shown.textContent === wanted)) { return window.dash_clientside.no_update; }
        return Object.assign({}, options, {noRowsOverlayComponentParams: Object.assign(
          {}, params, next, {revision: (params.revision || 0) + 1})});
      },

      offerClearFilters: function (rows, search, freshness, linkKeys) {
        // "Clear filters" shows when the feed's answer (not a failure, not the wait for one) is empty and its
        // link holds a filter of the feed (`linkKeys`: their keys, from widgets/feed_filters.py).
        const params = new URLSearchParams(search || "");
        const filtered = (linkKeys || []).some(function (key) { return params.has(key); });
        const answered = Boolean(freshness && !freshness.stale && freshness.ok_at);
        return !(filtered && answered && Array.isArray(rows) && rows.length === 0);
      },

      clearFilters: function (clicks, search, linkKeys) {
        // Every feed filter out of the link (the panels' own keys, ?call= and ?customer=, stay): the link
        // sets the filter controls back to their defaults (widgets/feed_filters.py).
        const params = new URLSearchParams(search || "");
        (linkKeys || []).forEach(function (key) { params.delete(key); });
        const text = params.toString();
        window.setTimeout(function () {
          const grid = document.getElementById("activity-search");
          if (grid) { grid.focus(); }  // the focus was on the button that is now gone
        }, 0);
        return text ? "?" + text : "";
      },

      chartText: function (figure) {
        // A chart in words: its title, then per series its total, busiest point and every value.
        const layout = (figure && figure.layout) || {};
        const title = (layout.title && layout.title.text) || "Chart";
        const series = ((figure && figure.data) || []).map(function (trace) {
          const points = (trace.x || []).map(function (x, i) { return [x, (trace.y || [])[i]]; })
            .filter(function (point) { return point[1] !== null && point[1] !== undefined; });
          if (!points.length) { return trace.name + ": no data"; }
          const busiest = points.reduce(function (a, b) { return b[1] > a[1] ? b : a; });
          const total = points.reduce(function (sum, point) { return sum + point[1]; }, 0);
          return trace.name + ": " + total + " in all, most at " + busiest[0] + " (" + busiest[1] + "); "
            + points.map(function (point) { return point[0] + " " + point[1]; }).join(", ");
        });
        return title + ". " + (series.length ? series.join(". ") + "." : "No data yet.");
      },

      memoryWindow: function () {
        // The memory range: four toggle buttons, one pressed.
        const triggered = window.dash_clientside.callback_context.triggered_id;
        const outputs = window.dash_clientside.callback_context.outputs_list;
        const ids = outputs.slice(1).map(function (output) { return output.id; });
        const chosen = ids.indexOf(triggered) === -1 ? ids[1] : triggered;
        const value = chosen.replace("memory-window-", "");
        return [value].concat(ids.map(function (id) { return String(id === chosen); }));
      },

      applyTheme: function (clicks, stored) {
        const prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
        let theme = stored || (prefersDark ? "dark" : "light");
        if (clicks) { theme = theme === "dark" ? "light" : "dark"; }
        document.documentElement.dataset.theme = theme;
        document.body.dataset.agThemeMode = theme;
        return [theme, theme === "dark" ? "Light theme" : "Dark theme"];
      },

      wallRotate: function (n, rows, displaySettings) {
        // The wallboard's table, a page at a time: as many rows as fit, the next page every rotation.
        window.switchboardSettings = Object.assign({}, window.switchboardSettings, displaySettings || {});
        let api = null;
        try { api = window.dash_ag_grid && window.dash_ag_grid.getApi("wall-grid"); } catch (error) { api = null; }
        if (!api) { return ""; }
        const zone = window.switchboardSettings.displayTimezone;
        if (wall.zoneDrawn !== zone && api.getDisplayedRowCount()) {
          wall.zoneDrawn = zone;
          api.refreshCells({force: true});  // rows drawn before the page knew its timezone
        }
        const rowHeight = Math.max(30, Math.round(window.innerHeight / 17));  // large type at any screen size
        if (api.getGridOption("rowHeight") !== rowHeight) {
          // The theme's row height too: a cell's text is centred by it.
          const element = document.getElementById("wall-grid");
          if (element) { element.style.setProperty("--ag-row-height", rowHeight + "px"); }
          api.setGridOption("rowHeight", rowHeight);
          api.setGridOption("headerHeight", Math.round(rowHeight * 0.85));
          api.resetRowHeights();
        }
        // A page is as many rows as the grid's body holds at that height. AG Grid's own automatic page size kept
        // the count it took from the first, smaller rows: the last two of 13 hung below the screen, never seen.
        const body = document.querySelector("#wall-grid .ag-body-viewport");
        const fit = body && body.clientHeight ? Math.max(1, Math.floor(body.clientHeight / rowHeight)) : null;
        if (fit && api.getGridOption("paginationPageSize") !== fit) {
          api.setGridOption("paginationPageSize", fit);
        }
        const pages = api.paginationGetTotalPages();
        const triggered = (window.dash_clientside.callback_context.triggered || [])[0] || {};
        if (pages > 1 && String(triggered.prop_id || "").indexOf("wall-rotate") === 0) {
          api.paginationGoToPage((api.paginationGetCurrentPage() + 1) % pages);
        }
        const count = api.getDisplayedRowCount();
        if (!count) { return ""; }
        if (pages <= 1) { return count + (count === 1 ? " company" : " companies"); }
        const page = api.paginationGetCurrentPage(), size = api.paginationGetPageSize();
        return "companies " + (page * size + 1) + "\u2013" + Math.min(count, (page + 1) * size) + " of " + count +
          " \u00b7 page " + (page + 1) + " of " + pages;
      },

      wallWatch: function (n, freshness, link, watchSettings, displaySettings) {
        // A TV left alone for days: it reloads itself when the server came back after being gone (a restart
        // may bring new code) or when its refreshes stopped coming, each time after a longer pause
        // (10 s, 20 s, 40 s … at most 5 min) and only once the page itself loads again.
        window.switchboardSettings = displaySettings || {};
        document.documentElement.dataset.theme = "dark";
        document.body.dataset.agThemeMode = "dark";
        const seen = JSON.stringify(freshness || null);
        if (seen !== wall.lastSeen) {
          wall.lastSeen = seen;
          wall.lastChange = Date.now();
          if (freshness && !freshness.stale) { window.sessionStorage.setItem(WALL_RELOADS, "0"); }
        }
        if (link && link.lost) {
          wall.wasLost = true;
        } else {
          const pollMs = ((watchSettings && watchSettings.pollSeconds) || 15) * 1000;
          if (wall.wasLost) { wall.wasLost = false; wall.wanted = true; }
          if (!document.hidden && Date.now() - wall.lastChange > Math.max(60000, 4 * pollMs)) { wall.wanted = true; }
          if (wall.wanted) { reloadWall(); }
        }
        return formatter("clock").format(new Date(now()));
      },

      freshnessLine: function (freshness, link, displaySettings) {
        // One widget's freshness line, written when its freshness or the connection changes; the page's
        // one-second timer (lines, below) keeps its "updated 4s ago" current between polls.
        window.switchboardSettings = displaySettings || {};
        const statusId = window.dash_clientside.callback_context.outputs_list[0].id;
        lines[statusId] = freshness;
        noteServerClock(statusId, freshness);
        announceFreshness(statusId, freshness);
        refreshDurations();
        return describe(freshness);
      }
  };
})();
