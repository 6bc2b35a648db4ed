/* The partial plotly.js bundle (serving/static_assets.py names it in this script's data-plotly) is downloaded from here
   on, after the page's own code, so on a slow line the grids' code is not slowed by it; and it runs once the
   page's first callback requests are on their way (the renderer's request_pre hook calls
   window.switchboardRunPlotly), so the half second a slow CPU takes to run it overlaps the server's answers
   instead of delaying the requests. dcc.Graph draws with a window.Plotly already on the page, and waits for it
   when it is a promise: until the bundle has run, window.Plotly is the promise of it. */
(function () {
  var loader = document.currentScript;
  var source = loader && loader.getAttribute('data-plotly');
  if (!source || window.Plotly) {
    return;
  }
  var preload = document.createElement('link');
  preload.rel = 'preload';
  preload.as = 'script';
  preload.href = source;
  document.head.appendChild(preload);
  var started = false;
  var resolveLoad;
  var rejectLoad;
  window.Plotly = new Promise(function (resolve, reject) { resolveLoad = resolve; rejectLoad = reject; });
  // A bundle that fails to arrive (a dropped line, a proxy's hiccup) is asked for again, 1 s, 2 s, 4 s ... at most
  // 30 s apart, for about five minutes: until then the charts wait for it (their text alternatives show the
  // figures meanwhile), instead of staying empty until the page is reloaded.
  var RETRY_FIRST_MS = 1000;
  var RETRY_MOST_MS = 30000;
  var ATTEMPTS = 14;
  var failures = 0;
  function load() {
    var script = document.createElement('script');
    script.src = source;
    script.addEventListener('load', function () { resolveLoad(window.Plotly); });
    script.addEventListener('error', function () {
      script.remove();
      failures += 1;
      if (failures >= ATTEMPTS) {
        rejectLoad(new Error('plotly.js did not load: ' + source));
        return;
      }
      window.setTimeout(load, Math.min(RETRY_MOST_MS, RETRY_FIRST_MS * Math.pow(2, failures - 1)));
    });
    document.head.appendChild(script);
  }
  window.switchboardRunPlotly = function () {
    if (started) {
      return;
    }
    started = true;
    load();
  };
  // A page whose first callbacks do not go out soon after its scripts ran (signed out, offline) still gets its
  // charts' code.
  document.addEventListener('DOMContentLoaded', function () {
    window.setTimeout(window.switchboardRunPlotly, 3000);
  });
})();
