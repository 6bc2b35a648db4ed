/* Switchboard's browser side: cell formatters for the grids and the clientside callbacks
   (pause/resume, hidden tabs, theme, the one-second tick). Nothing here talks to the server. */
window.dashAgGridFunctions = window.dashAgGridFunctions || {};

(function () {
  "use strict";
  const grid = window.dashAgGridFunctions;
  const formatters = {};
  let clockOffsetMs = 0;
  const lastServerNow = {};
  let wasOff = false;
  let lastDurationTick = null;

  // A session that ended (expired, signed out elsewhere, user removed): go to the sign-in page
  // instead of leaving every widget stale.
  const originalFetch = window.fetch.bind(window);
  let leaving = false;
  window.fetch = function (resource, options) {
    return originalFetch(resource, options).then(function (response) {
      const url = typeof resource === "string" ? resource : (resource && resource.url) || "";
      if (response.status === 401 && url.indexOf("/_dash-") !== -1 && !leaving) {
        leaving = true;  // several polls may fail at once; one navigation
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
      }
      return response;
    });
  };

  function settings() { return window.switchboardSettings || {}; }
  function now() { return Date.now() + clockOffsetMs; }

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
    if (!freshness) { return ["loading…", "freshness"]; }
    if (freshness.stale) {
      const since = freshness.ok_at ? "last update " + grid.switchboardClock(freshness.ok_at) : "no data yet";
      return ["⚠ stale · " + since + " · " + freshness.reason, "freshness stale"];
    }
    return ["updated " + age(now() - freshness.ok_at * 1000) + " ago", "freshness"];
  }

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

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.switchboard = {
      togglePause: function (clicks, paused) {
        const next = !paused;
        return [next, next ? "Resume" : "Pause", next ? "true" : "false"];
      },

      applyPolling: function (paused, visibility, signal) {
        const hidden = Boolean(visibility && visibility.hidden);
        const off = Boolean(paused) || hidden;
        // Coming back from a pause or a hidden tab: refresh every widget at once.
        const bump = wasOff && !off ? (signal || 0) + 1 : window.dash_clientside.no_update;
        wasOff = off;
        const label = paused ? "Paused" : (hidden ? "Paused while hidden" : "Live");
        return [hidden, label, bump];
      },

      followPolling: function (paused, visibility) {
        // One widget's interval: off while paused or hidden.
        return Boolean(paused) || Boolean(visibility && visibility.hidden);
      },

      applyTheme: function (clicks, stored) {
        const prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
        let theme = stored || (prefersDark ? "dark" : "light");
        if (clicks) { theme = theme === "dark" ? "light" : "dark"; }
        document.documentElement.dataset.theme = theme;
        document.body.dataset.agThemeMode = theme;
        return [theme, theme === "dark" ? "Light theme" : "Dark theme"];
      },

      tick: function (n, freshness, displaySettings) {
        // One widget's freshness line; the ongoing calls' durations tick once per second too.
        window.switchboardSettings = displaySettings || {};
        const statusId = window.dash_clientside.callback_context.outputs_list[0].id;
        noteServerClock(statusId, freshness);
        if (n !== lastDurationTick) {
          lastDurationTick = n;
          try {
            const api = window.dash_ag_grid && window.dash_ag_grid.getApi("ongoing-grid");
            if (api) { api.refreshCells({columns: ["duration"]}); }
          } catch (error) { /* no ongoing calls on this page, or the grid is not ready yet */ }
        }
        return describe(freshness);
      }
  };
})();
