/* loopmeter: inflate the inlined chart library, then draw every chart of the page.
 * Charts in a closed <details> are drawn when it opens (Plotly cannot size a hidden box).
 * window.__lmCharts records when each chart was drawn, for bench/report_page.py and the tests.
 * Untrusted text never goes through innerHTML here: titles are read with DOMParser (an inert
 * document) and written with textContent; change lists are built with textContent too. */
(function () {
  "use strict";
  var state = window.__lmCharts = { total: 0, drawn: 0, times: {}, libraryMs: null, error: null,
                                    scriptStart: performance.now() };
  var payloads = document.querySelectorAll("script[data-figure-for]");
  state.total = payloads.length;

  function plainText(html) {
    var doc = new DOMParser().parseFromString("<p>" + String(html).replace(/<br\s*\/?>/gi, " ") + "</p>", "text/html");
    return doc.body.textContent || "";
  }

  function narrow(el) { return (el.clientWidth || window.innerWidth) < 600; }

  // Payloads are JSON, or gzip-compressed JSON in base64 when large (report/charts.py `packed`).
  function inflate(base64) {
    var raw = atob(base64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  }
  function readPayload(node) {
    var text = node.textContent;
    if (node.getAttribute("data-encoding") === "gzip-base64") return inflate(text).then(JSON.parse);
    return Promise.resolve(JSON.parse(text));
  }
  var templateNode = document.getElementById("lm-chart-template");
  var template = templateNode ? JSON.parse(templateNode.textContent) : null;

  function draw(node) {
    if (node.getAttribute("data-drawn")) return;
    var target = document.getElementById(node.getAttribute("data-figure-for"));
    if (!target) return;
    node.setAttribute("data-drawn", "1");
    return readPayload(node).then(function (figure) { return plot(target, figure); });
  }

  function plot(target, figure) {
    var layout = figure.layout || {};
    if (template && !layout.template) layout.template = template;
    var title = layout.title && layout.title.text;
    var prev = target.previousElementSibling;
    if (title && !(prev && prev.classList.contains("chart-title"))) {
      var h = document.createElement("h4");
      h.className = "chart-title";
      h.textContent = plainText(title);
      target.parentNode.insertBefore(h, target);
    }
    layout.title = { text: "" };
    layout.margin = layout.margin || {};
    layout.margin.t = Math.min(layout.margin.t == null ? 34 : layout.margin.t, 34);
    // The legend goes under the plot: the top edge holds the adoption and partial-week labels.
    if (!layout.legend || layout.legend.orientation === "h") {
      layout.legend = { orientation: "h", x: 0, xanchor: "left", y: -0.14, yanchor: "top" };
    }
    var small = narrow(target);
    if (small) {
      // A phone: smaller type and margins, the legend under the plot, no toolbar.
      layout.font = layout.font || {};
      layout.font.size = 11;
      layout.margin.l = Math.min(layout.margin.l == null ? 44 : layout.margin.l, 44);
      layout.margin.r = 8;
      layout.legend = { orientation: "h", x: 0, xanchor: "left", y: -0.22, yanchor: "top", font: { size: 11 } };
      layout.margin.b = Math.max(layout.margin.b || 0, 70);
      layout.height = (layout.height || 380) + 40;
      // A forest plot (one row per estimate, labels on a reversed category axis): on a phone the
      // labels would leave the plot a sliver, so each label goes above its row across the width.
      var tr = figure.data && figure.data.length === 1 ? figure.data[0] : null;
      if (tr && layout.yaxis && layout.yaxis.autorange === "reversed" && Array.isArray(tr.y) && typeof tr.y[0] === "string") {
        layout.yaxis.showticklabels = false;
        layout.margin.l = 8;
        layout.height = Math.max(layout.height || 0, 110 + tr.y.length * 62);
        layout.annotations = (layout.annotations || []).concat(tr.y.map(function (label) {
          return { x: 0, xref: "paper", xanchor: "left", y: label, yref: "y", yanchor: "bottom", yshift: 7,
                   showarrow: false, align: "left", text: String(label), font: { size: 10.5 } };
        }));
      }
      // Long axis titles would run past the edge: break them near the middle.
      ["xaxis", "yaxis", "yaxis2"].forEach(function (k) {
        var ax = layout[k];
        if (!ax) return;
        ax.tickfont = ax.tickfont || {};
        ax.tickfont.size = Math.max(10, Math.min(ax.tickfont.size || 11, 11));
        var t = ax.title && (typeof ax.title === "string" ? ax.title : ax.title.text);
        if (t && t.length > 26 && t.indexOf("<br>") < 0) {
          var mid = t.length / 2, cut = -1;
          for (var i = 0; i < t.length; i++) if (t[i] === " " && (cut < 0 || Math.abs(i - mid) < Math.abs(cut - mid))) cut = i;
          if (cut > 0) ax.title = { text: t.slice(0, cut) + "<br>" + t.slice(cut + 1), font: { size: 11 } };
        }
      });
    }
    var config = { displaylogo: false, responsive: true, displayModeBar: small ? false : "hover",
                   modeBarButtonsToRemove: ["select2d", "lasso2d"] };
    return Plotly.newPlot(target, figure.data, layout, config).then(function () {
      state.drawn += 1;
      state.times[target.id] = performance.now();
      target.setAttribute("data-drawn", "1");
      if (target.hasAttribute("data-week-click")) weekClicks(target);
    });
  }

  function hiddenByDetails(node) {
    var d = node.closest("details");
    while (d) {
      if (!d.open) return d;
      d = d.parentElement && d.parentElement.closest("details");
    }
    return null;
  }

  // Charts are drawn one after another, each in its own task (the page stays responsive), in
  // page order; a chart in a closed section joins the queue when its section opens.
  var ready = false, queue = [], running = false;
  function enqueue(nodes) {
    for (var i = 0; i < nodes.length; i++) {
      if (!nodes[i].getAttribute("data-drawn") && !hiddenByDetails(nodes[i]) && queue.indexOf(nodes[i]) < 0) queue.push(nodes[i]);
    }
    if (ready && !running) next();
  }
  function next() {
    var node = queue.shift();
    if (!node) { running = false; return; }
    running = true;
    Promise.resolve(draw(node)).then(function () { setTimeout(next, 0); }, function (e) {
      state.error = String(e); console.error(e); setTimeout(next, 0);
    });
  }
  var sections = document.querySelectorAll("details");
  for (var k = 0; k < sections.length; k++) {
    sections[k].addEventListener("toggle", function () {
      if (this.open) enqueue(this.querySelectorAll("script[data-figure-for]"));
    });
  }
  function drawAll() {
    ready = true;
    enqueue(payloads);
  }

  // Weekly charts: a click on a week opens the list of that week's changes.
  function weekClicks(target) {
    target.on("plotly_click", function (ev) {
      if (!ev || !ev.points || !ev.points.length) return;
      var x = String(ev.points[0].x).slice(0, 10);
      var select = document.getElementById("week-select");
      if (!select) return;
      // Bars are centred in their week: find the Monday on or before the clicked date.
      var best = null;
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].value <= x && (best === null || select.options[i].value > best)) best = select.options[i].value;
      }
      if (best === null) return;
      select.value = best;
      showWeek(best);
      var panel = document.getElementById("week-changes");
      if (panel) { if (panel.tagName === "DETAILS") panel.open = true; panel.scrollIntoView({ behavior: "smooth", block: "start" }); }
    });
  }

  var weekData = null;
  function showWeek(week) {
    var list = document.getElementById("week-list");
    if (!list) return;
    if (weekData === null) {
      var node = document.getElementById("lm-week-changes");
      weekData = node ? readPayload(node) : Promise.resolve({ weeks: {} });
    }
    weekData.then(function (data) { fillWeek(list, data, week); });
  }
  function fillWeek(list, weekData, week) {
    while (list.firstChild) list.removeChild(list.firstChild);
    var rows = weekData.weeks[week] || [];
    var summary = document.getElementById("week-summary");
    if (summary) summary.textContent = rows.length + (rows.length === 1 ? " change" : " changes") + " landed in the week of " + week + ".";
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];  // [title, url or "", state, agents or "", cycle, repo]
      var li = document.createElement("li");
      var title;
      if (r[1] && /^https?:\/\//.test(r[1])) {
        title = document.createElement("a");
        title.href = r[1];
        title.rel = "noopener noreferrer";
        title.target = "_blank";
      } else {
        title = document.createElement("span");
      }
      title.textContent = r[0];
      li.appendChild(title);
      var meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = " · " + [r[5], r[2], r[3] ? "AI: " + r[3] : "", r[4] ? "cycle " + r[4] : ""].filter(Boolean).join(" · ");
      li.appendChild(meta);
      list.appendChild(li);
    }
  }
  var select = document.getElementById("week-select");
  if (select) {
    select.addEventListener("change", function () { showWeek(select.value); });
    if (select.value) showWeek(select.value);
  }

  // The table of contents: one entry per section heading, the current one highlighted.
  (function toc() {
    var list = document.getElementById("toc");
    if (!list) return;
    var heads = document.querySelectorAll("main h2[id]");
    var links = [];
    for (var i = 0; i < heads.length; i++) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = "#" + heads[i].id;
      a.textContent = heads[i].getAttribute("data-toc") || heads[i].textContent;
      li.appendChild(a); list.appendChild(li); links.push(a);
    }
    if (!("IntersectionObserver" in window)) return;
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (!e.isIntersecting) return;
        links.forEach(function (a) { a.classList.toggle("here", a.getAttribute("href") === "#" + e.target.id); });
      });
    }, { rootMargin: "0px 0px -70% 0px" });
    for (var j = 0; j < heads.length; j++) seen.observe(heads[j]);
  })();

  function start() {
    if (!payloads.length) return;
    var t0 = state.startAt = performance.now();
    var packed = document.getElementById("lm-chart-library");
    if (window.Plotly || !packed) { drawAll(); return; }
    inflate(packed.textContent).then(function (source) {
      var s = document.createElement("script");
      s.textContent = source;
      document.head.appendChild(s);
      state.libraryMs = performance.now() - t0;
      drawAll();
    }).catch(function (e) { state.error = String(e); console.error("loopmeter: the charts could not be loaded: " + e); });
  }
  // After the first paint: the verdict and the text show before any chart work starts.
  requestAnimationFrame(function () { setTimeout(start, 0); });
})();
