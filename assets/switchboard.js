/* Switchboard's browser side: cell formatters and the overlay of the grids, the clientside callbacks
   (pause/resume, hidden tabs, theme, the one-second tick) and the connection watch, whose only request
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
  let lastDurationTick = null;

  // --- the connection to the dashboard's own server (issue 11, item 7) ---
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
    return originalFetch(resource, options).then(function (response) {
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
  };

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
  // While the connection is lost, the page's clock stops (at the moment the loss was noticed, so that no
  // duration shown runs backwards): live durations stop ticking.
  function now() { return (connection.lost ? connection.lostAt : Date.now()) + clockOffsetMs; }

  function formatter(kind) {
    const zone = settings().displayTimezone;
    const key = kind + "|" + (zone || "");
    if (!formatters[key]) {
      const options = kind === "time"
        ? {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}
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

  function searchWithCall(search, callId) {
    const params = new URLSearchParams(search || "");
    if (callId === null) { params.delete("call"); } else { params.set("call", String(callId)); }
    const text = params.toString();
    return text ? "?" + text : "";
  }

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
    return callId;
  }

  function focusBack() {
    const back = returnFocus;
    returnFocus = null;
    if (!back) { return; }
    try {
      const api = window.dash_ag_grid.getApi(back.grid);
      const column = api.getAllDisplayedColumns()[0];
      api.ensureIndexVisible(back.rowIndex);
      api.setFocusedCell(back.rowIndex, column);
    } catch (error) { /* the row is gone (the call ended): focus stays where it is */ }
  }

  document.addEventListener("keydown", function (event) {
    const clientside = window.dash_clientside;
    if (event.key === "Escape") {
      const panel = document.getElementById("call-panel");
      if (panel && !panel.hidden) { document.getElementById("call-close").click(); event.preventDefault(); }
      return;
    }
    if (event.key !== "Enter" || !clientside || !clientside.set_props) { return; }
    const row = event.target.closest && event.target.closest(".ag-row");
    const grid = row && row.closest("#ongoing-grid, #activity-grid");
    if (!grid) { return; }
    const callId = openFromRow(grid.id, row.getAttribute("row-id"), Number(row.getAttribute("row-index")));
    if (callId !== null) {
      clientside.set_props("url", {search: searchWithCall(window.location.search, callId)});
    }
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.switchboard = {
      openCall: function (ongoingClick, feedClick, search) {
        const triggered = window.dash_clientside.callback_context.triggered_id;
        const click = triggered === "ongoing-grid" ? ongoingClick : feedClick;
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
          if (close && panel && !panel.contains(document.activeElement) && returnFocus) { close.focus(); }
        }
        return Boolean(hidden) || !live || Boolean(paused) || Boolean(visibility && visibility.hidden)
          || Boolean(link && link.lost);
      },

      renderPayload: function (payload, query, openCall) {
        // The fetched column as text only (React escapes it), one collapsible section per top-level key;
        // a search keeps the lines that contain it and opens the sections that have any.
        if (!payload || payload.call !== openCall) { return [[], true]; }
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
                         props: {open: Boolean(needle) || payload.sections.length === 1, className: "payload-section",
                                 children: [{namespace: "dash_html_components", type: "Summary", props: {children: section.key}},
                                            {namespace: "dash_html_components", type: "Pre", props: {children: text}}]}});
        });
        if (!sections.length) {
          sections.push({namespace: "dash_html_components", type: "P", props: {children: needle ? "No line contains it." : "Empty."}});
        }
        return [sections, false];
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
        return [hidden, label, state, bump];
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

      applyTheme: function (clicks, stored) {
        const prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
        let theme = stored || (prefersDark ? "dark" : "light");
        if (clicks) { theme = theme === "dark" ? "light" : "dark"; }
        document.documentElement.dataset.theme = theme;
        document.body.dataset.agThemeMode = theme;
        return [theme, theme === "dark" ? "Light theme" : "Dark theme"];
      },

      tick: function (n, freshness, link, displaySettings) {
        // One widget's freshness line; the ongoing calls' durations tick once per second too. `link` (the
        // connection store) is an input so that a lost or regained connection rewrites the line at once.
        window.switchboardSettings = displaySettings || {};
        const statusId = window.dash_clientside.callback_context.outputs_list[0].id;
        noteServerClock(statusId, freshness);
        const mark = n + "|" + (link && link.at);  // each second, and at once when the connection changes
        if (mark !== lastDurationTick) {
          lastDurationTick = mark;
          try {
            const api = window.dash_ag_grid && window.dash_ag_grid.getApi("ongoing-grid");
            if (api) { api.refreshCells({columns: ["duration"]}); }
          } catch (error) { /* no ongoing calls on this page, or the grid is not ready yet */ }
        }
        return describe(freshness);
      }
  };
})();
