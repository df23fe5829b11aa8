// The loopmeter dashboard: renders /api/report (the `loopmeter report --json` document) for the
// filters in the URL, lists a week's changes from /api/changes, and reloads when the store changes.
// Every string from the store is set as text (textContent), never as markup.
"use strict";

const FILTERS = ["repo", "team", "agent", "from", "to"];
const POLL_MS = 5000;
const state = { fingerprint: null, doc: null, week: null };

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function currentQuery(extra) {
  const src = new URLSearchParams(window.location.search);
  const q = new URLSearchParams();
  for (const k of FILTERS) for (const v of src.getAll(k)) if (v) q.append(k, v);
  for (const [k, v] of Object.entries(extra || {})) { q.delete(k); if (v) q.append(k, v); }
  return q;
}

async function getJSON(path, query) {
  const qs = query && query.toString();
  const r = await fetch(path + (qs ? "?" + qs : ""), { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || ("HTTP " + r.status));
  return body;
}

function fmtInt(v) { return v === null || v === undefined ? "unknown" : Number(v).toLocaleString("en-US"); }
function fmtPct(v) { return v === null || v === undefined ? "unknown" : (100 * v).toFixed(1) + "%"; }
function fmtRatio(v) { return v === null || v === undefined ? "no estimate" : Number(v).toFixed(2) + "×"; }
function fmtHours(h) {
  if (h === null || h === undefined) return "unknown";
  if (h < 1) return Math.round(h * 60) + " min";
  if (h < 48) return h.toFixed(1) + " h";
  return (h / 24).toFixed(1) + " d";
}


function setStatus(text, error) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function fillSelect(sel, values, chosen) {
  while (sel.options.length > 1) sel.remove(1);
  for (const v of values) {
    const o = el("option", v);
    o.value = v;
    sel.appendChild(o);
  }
  if (chosen && !values.includes(chosen)) {  // a value from a shared link the store no longer has
    const o = el("option", chosen);
    o.value = chosen;
    sel.appendChild(o);
  }
  sel.value = chosen || "";
}

async function loadFilters() {
  const q = currentQuery();
  const f = await getJSON("/api/filters");
  fillSelect($("f-repo"), f.repos, q.get("repo"));
  fillSelect($("f-team"), f.teams, q.get("team"));
  fillSelect($("f-agent"), f.agents, q.get("agent"));
  $("f-team").parentElement.hidden = f.teams.length === 0;
  $("f-from").value = q.get("from") || "";
  $("f-to").value = q.get("to") || "";
  state.agents = f.agents;
}

function card(label, value, note) {
  const c = el("div", null, "card");
  c.appendChild(el("div", value, "value"));
  c.appendChild(el("div", label, "label"));
  if (note) c.appendChild(el("div", note, "note"));
  return c;
}

function sentences(v, out) {  // the verdict's plain sentences, whatever its nesting
  if (out.length >= 6 || v === null || v === undefined) return out;
  if (Array.isArray(v)) { for (const x of v) sentences(x, out); return out; }
  if (typeof v === "object") {
    if (typeof v.sentence === "string") out.push({ text: v.sentence, status: v.status });
    else for (const x of Object.values(v)) sentences(x, out);
  }
  return out;
}

function renderVerdict(doc) {
  const box = $("verdict");
  box.replaceChildren();
  const said = sentences(doc.verdict, []);
  box.hidden = said.length === 0;
  for (const s of said) {
    const p = el("p", s.text);
    if (s.status === "improved") p.className = "better";
    if (s.status === "worsened") p.className = "worse";
    box.appendChild(p);
  }
}

function renderCards(doc) {
  const box = $("cards");
  box.replaceChildren();
  const t = doc.totals;
  if (!t) { box.appendChild(card("changes", "0", "no git history in this view")); return; }
  const c = doc.cycle_time_hours || {};
  box.appendChild(card("changes landed", fmtInt(t.changes)));
  box.appendChild(card("validated", fmtInt(t.validated_changes), fmtInt(t.pending_changes) + " pending"));
  box.appendChild(card("AI-assisted (at least)", fmtPct((doc.attribution || {}).ai_share_lower_bound), fmtInt(t.ai_assisted_changes) + " changes"));
  box.appendChild(card("cycle time, median", fmtHours(c.p50), "85th percentile " + fmtHours(c.p85)));
  box.appendChild(card("contributors", fmtInt(t.contributors)));
}

function liftCells(tr, e, notVerdict) {
  if (e.withheld) {  // too few values or a zero-width interval: never shown as a result
    tr.appendChild(el("td", "not shown", "num"));
    tr.appendChild(el("td", e.withheld));
    return;
  }
  const ratio = el("td", fmtRatio(e.ratio) + (notVerdict ? " (not a verdict)" : ""), "num" + (!notVerdict && e.tone ? " " + e.tone : ""));
  tr.appendChild(ratio);
  const ci = e.ci_low !== null && e.ci_high !== null && e.ci_low !== undefined
    ? Number(e.ci_low).toFixed(2) + " to " + Number(e.ci_high).toFixed(2) : "—";
  tr.appendChild(el("td", ci, "num"));
}

function renderLift(doc) {
  const body = $("lift").tBodies[0];
  body.replaceChildren();
  for (const e of doc.lift || []) {
    const tr = el("tr");
    // A number whose verdict question is not_enough_data keeps its number but never reads as a
    // finding: grey, behind the label the report wrote (report/lift_text.py `add_labels`).
    const label = e.not_a_verdict || null;
    const name = el("td", e.label || e.metric);
    if (label) {
      tr.className = "not-verdict";
      name.appendChild(el("span", label, "nv-label"));
    }
    tr.appendChild(name);
    tr.appendChild(el("td", e.comparison_label || e.comparison));
    liftCells(tr, e, Boolean(label));
    tr.appendChild(el("td", fmtInt(e.n_a) + " / " + fmtInt(e.n_b), "num"));
    body.appendChild(tr);
  }
  const ad = doc.adoption || {};
  $("lift-note").textContent = "AI adoption: " + (ad.date || "not found") + (ad.source ? " (" + ad.source + ")" : "")
    + ". Green: better for the team, red: worse, when the interval excludes no change; grey: not a verdict, too little data to judge.";
}

// The loop rows of /api/loops (report/loop_view.py): label and format of each number, in order.
const LOOP_NUMBERS = {
  done: ["done cases", fmtInt], open: ["open", fmtInt], cycle_p50_hours: ["cycle time, median", fmtHours],
  cycle_p85_hours: ["85th percentile", fmtHours], weeks: ["calendar weeks", fmtInt], validated_per_week: ["validated / week", fmtRate],
  waiting_share: ["waiting share", fmtPct], ai_share: ["AI-handled", fmtPct],
  runs: ["runs", fmtInt], runs_per_week: ["runs / week", fmtRate],
  run_p50_minutes: ["run, median", fmtMinutes], run_p85_minutes: ["85th percentile", fmtMinutes],
  turnaround_p50_minutes: ["turnaround, median", fmtMinutes], turnaround_p85_minutes: ["85th percentile", fmtMinutes],
  failed_share: ["failed", fmtPct], agent_share: ["agent-launched", fmtPct], improvements: ["improvements", fmtInt],
};
function fmtRate(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(2); }
function fmtMinutes(m) { return m === null || m === undefined ? "unknown" : fmtHours(m / 60); }

function loopBox(row) {
  const box = el("article", null, "loop");
  box.dataset.kind = row.kind;
  box.dataset.name = row.name;
  box.appendChild(el("h3", row.name + " (" + row.kind + ")"));
  const dl = el("dl");
  for (const [k, v] of Object.entries(row.numbers || {})) {
    const [label, fmt] = LOOP_NUMBERS[k] || [k, String];
    const d = el("div");
    d.appendChild(el("dt", label));
    d.appendChild(el("dd", fmt(v)));
    dl.appendChild(d);
  }
  box.appendChild(dl);
  box.appendChild(el("p", "Adoption: " + (row.adoption || row.adoption_missing || "none found")
    + (row.dates ? "; cut to " + row.dates : ""), "note adoption"));
  const ul = el("ul");
  for (const v of row.verdict || []) {
    const li = el("li");
    li.dataset.status = v.status || "none";
    li.appendChild(el("span", v.badge, "badge " + v.tone));
    li.appendChild(el("strong", v.label));
    if (v.ratio) li.appendChild(el("span", " " + v.ratio + " " + v.compares + (v.interval ? ", 95% interval " + v.interval : "")));
    li.appendChild(el("div", v.sentence, "note sentence"));
    ul.appendChild(li);
  }
  box.appendChild(ul);
  return box;
}

async function loadLoops() {  // after the rest of the view: the same cached document, reshaped
  try {
    renderLoops(await getJSON("/api/loops", currentQuery()));
  } catch (e) {
    setStatus("Could not show the event logs and experiments: " + e.message, true);
  }
}

const LEFT_OUT_NOUN = { event_logs: "event log ", experiments: "experiment ", incidents: "incidents" };

function renderLoops(loops) {
  const rows = (loops.event_logs || []).concat(loops.experiments || []);
  const left = loops.left_out || [];
  $("loops").hidden = rows.length === 0 && left.length === 0;
  $("loop-list").replaceChildren(...rows.map(loopBox));
  // A loop the repository / team / agent filter cannot cut is left out, and said so (text only).
  $("loop-left-out").replaceChildren(...left.map((x) => el("p", "Left out of this view: "
    + (LEFT_OUT_NOUN[x.section] || x.section + " ") + (x.section === "incidents" ? "" : x.name) + ": " + x.why,
    "note left-out")));
}

function mondayOf(iso) { return new Date(iso + "T00:00:00Z"); }
function isoDay(d) { return d.toISOString().slice(0, 10); }

function withEmptyWeeks(weekly) {  // a week without changes is a zero row, not a gap
  const out = [];
  for (let i = 0; i < weekly.length; i++) {
    out.push(weekly[i]);
    if (i + 1 === weekly.length) break;
    const next = mondayOf(weekly[i + 1].week_start);
    for (let d = new Date(mondayOf(weekly[i].week_start).getTime() + 7 * 864e5); d < next; d = new Date(d.getTime() + 7 * 864e5)) {
      out.push({ week_start: isoDay(d), week: null, changes: 0, validated: 0, pending: 0, ai_assisted: 0, contributors: 0, cycle_p50_hours: null, empty: true });
    }
  }
  return out;
}

function renderWeeks(doc) {
  const body = $("weeks").tBodies[0];
  body.replaceChildren();
  const rows = withEmptyWeeks(doc.weekly || []).reverse();
  for (const w of rows) {
    const tr = el("tr", null, w.empty ? "empty" : "");
    tr.dataset.week = w.week_start;
    tr.tabIndex = 0;
    tr.appendChild(el("td", "week of " + w.week_start + (w.partial ? " (partial)" : "")));
    for (const k of ["changes", "validated", "pending", "ai_assisted", "contributors"]) tr.appendChild(el("td", fmtInt(w[k]), "num"));
    tr.appendChild(el("td", w.empty ? "—" : fmtHours(w.cycle_p50_hours), "num"));
    const open = () => openWeek(w.week_start);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
    if (w.week_start === state.week) tr.classList.add("chosen");
    body.appendChild(tr);
  }
}

function webUrl(doc, change) {  // the PR or commit page, when the repository's web address is known
  const repo = (doc.repos || []).find((r) => r.repo === change.repo) || {};
  const base = repo.web_url || repo.url;
  if (typeof base !== "string" || !/^https?:\/\//.test(base)) return null;
  const pr = /\(#(\d+)\)\s*$|^Merge pull request #(\d+)/.exec(change.title || "");
  if (pr) return base.replace(/\/$/, "") + "/pull/" + (pr[1] || pr[2]);
  const sha = /:change:([0-9a-f]{7,40})$/.exec(change.id || "");
  return sha ? base.replace(/\/$/, "") + "/commit/" + sha[1] : null;
}

async function openWeek(weekStart) {
  state.week = weekStart;
  const call = state.weekCall = (state.weekCall || 0) + 1;  // only the latest call fills the table
  for (const tr of $("weeks").tBodies[0].rows) tr.classList.toggle("chosen", tr.dataset.week === weekStart);
  const box = $("week-box");
  box.hidden = false;
  $("week-title").textContent = "Changes landed in the week of " + weekStart;
  const body = $("week-changes").tBodies[0];
  body.replaceChildren();
  try {
    const res = await getJSON("/api/changes", currentQuery({ week: weekStart }));
    if (call !== state.weekCall) return;
    body.replaceChildren();
    if (res.changes.length === 0) {
      const tr = el("tr");
      const td = el("td", "No change landed in this week.");
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    for (const c of res.changes) {
      const tr = el("tr");
      tr.appendChild(el("td", (c.done_at || "").replace("T", " ").replace(/:\d\dZ$/, " UTC")));
      const title = el("td", null, "title");
      const url = webUrl(state.doc, c);
      const short = (c.id || "").split(":").pop().slice(0, 10);
      if (url) {
        const a = el("a", c.title || short);
        a.href = url;
        a.rel = "noopener noreferrer";
        title.appendChild(a);
      } else {
        title.appendChild(el("span", c.title || "(no title)"));
        title.appendChild(el("span", " " + short, "note"));
      }
      tr.appendChild(title);
      tr.appendChild(el("td", c.repo));
      tr.appendChild(el("td", c.author));
      tr.appendChild(el("td", c.state));
      tr.appendChild(el("td", c.ai ? (c.agents.length ? c.agents.join(", ") : "yes") : "no"));
      tr.appendChild(el("td", fmtHours(c.cycle_hours), "num"));
      body.appendChild(tr);
    }
  } catch (e) {
    setStatus("Could not list the week's changes: " + e.message, true);
  }
}

async function renderAgents() {
  const body = $("agents").tBodies[0];
  body.replaceChildren();
  for (const agent of state.agents || []) {
    const tr = el("tr");
    tr.appendChild(el("td", agent));
    body.appendChild(tr);
    try {
      const doc = await getJSON("/api/report", currentQuery({ agent }));
      const t = doc.totals || {};
      tr.appendChild(el("td", fmtInt(t.ai_assisted_changes), "num"));
      tr.appendChild(el("td", fmtPct((doc.attribution || {}).ai_share_lower_bound), "num"));
      for (const metric of ["cycle_time_hours_p50", "cycle_time_hours_p85"]) {
        const e = (doc.lift || []).find((x) => x.metric === metric && x.comparison === "ai_assisted/human");
        const td = el("td", !e ? "—" : e.withheld ? "not shown: " + e.withheld
          : fmtRatio(e.ratio) + (e.ci_low !== null && e.ci_low !== undefined && e.ci_high !== null
            ? " (" + Number(e.ci_low).toFixed(2) + " to " + Number(e.ci_high).toFixed(2) + ")" : ""), "num");
        const label = (e && e.not_a_verdict) || null;  // report/lift_text.py `add_labels`
        if (label) {  // this agent's own verdict found too little data: the number stays, labelled
          td.textContent += " (not a verdict)";
          td.title = label;
          td.className += " not-verdict";
        } else if (e && !e.withheld && e.tone) td.className += " " + e.tone;
        tr.appendChild(td);
      }
    } catch (e) {
      tr.appendChild(el("td", e.message));
    }
  }
}

function renderLinks() {
  const q = currentQuery().toString();
  $("full-report").href = "/report" + (q ? "?" + q : "");
  $("json-link").href = "/api/report" + (q ? "?" + q : "");
}

async function loadReport() {
  setStatus("Computing the report…");
  try {
    const doc = await getJSON("/api/report", currentQuery());
    state.doc = doc;
    const repos = (doc.repos || []).map((r) => r.repo);
    $("title").textContent = "loopmeter: " + (repos.length ? repos.join(", ") : "no repository");
    document.title = $("title").textContent;
    renderVerdict(doc);
    renderCards(doc);
    renderLift(doc);
    renderWeeks(doc);
    renderLinks();
    const warnings = $("warnings");
    warnings.replaceChildren();
    for (const w of doc.warnings || []) warnings.appendChild(el("li", w));
    setStatus("As of " + doc.as_of + " (" + doc.as_of_rule + "); refreshed " + new Date().toLocaleTimeString() + ".");
    if (state.week) openWeek(state.week);
    if ($("agents-box").open) renderAgents();
    loadLoops();
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function poll() {
  try {
    const f = await getJSON("/api/fingerprint");
    if (state.fingerprint !== null && f.fingerprint !== state.fingerprint) {
      state.fingerprint = f.fingerprint;
      await loadFilters();
      await loadReport();
    }
    state.fingerprint = f.fingerprint;
  } catch (e) { /* the next poll tries again */ }
  setTimeout(poll, POLL_MS);
}

function onSubmit(ev) {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of FILTERS) {
    const v = $("f-" + k).value;
    if (v) q.append(k, v);
  }
  const qs = q.toString();
  history.pushState(null, "", qs ? "?" + qs : window.location.pathname);
  state.week = null;
  $("week-box").hidden = true;
  loadReport();
}

window.addEventListener("popstate", () => { loadFilters().then(loadReport); });
document.addEventListener("DOMContentLoaded", async () => {
  $("filters").addEventListener("submit", onSubmit);
  $("agents-box").addEventListener("toggle", () => { if ($("agents-box").open) renderAgents(); });
  try { await loadFilters(); } catch (e) { setStatus(e.message, true); }
  await loadReport();
  poll();
});
