// payroute console: polls the admin port's JSON API and draws what it
// says. Plain DOM and inline SVG; nothing is loaded from anywhere else.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2f6fde", "#1f9d55", "#d98a00", "#8e44ad", "#d43c3c", "#16a2b8", "#7f8c8d", "#c0392b"];
const FAST_MS = 2000; // live flow, PSPs, lag, readiness
const SLOW_MS = 10000; // ClickHouse charts, configuration

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  let body;
  try {
    body = await res.json();
  } catch (e) {
    throw new Error(path + ": HTTP " + res.status);
  }
  if (!res.ok && !(path === "readyz" && res.status === 503)) {
    throw new Error(body && body.error ? body.error : path + ": HTTP " + res.status);
  }
  return body;
}

const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
const fmtRate = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtPct = (x) => (x * 100).toFixed(1) + "%";
const fmtTime = (t) => new Date(t).toLocaleTimeString("en-GB");

function setValue(id, value, text) {
  const e = $(id);
  e.dataset.value = String(value);
  e.textContent = text;
}

function note(id, text, isError) {
  const e = $(id);
  e.textContent = text || "";
  e.classList.toggle("error", !!isError);
}

// lineChart draws series [{name, color, dashed, points: [[x, y], ...]}]
// into container as an SVG with a time x axis.
function lineChart(container, series, opts) {
  const W = Math.max(300, container.clientWidth || 900), H = opts.height || 200, L = 44, R = 10, T = 10, B = 22;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}` });
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  let x0 = opts.xMin ?? Math.min(...xs), x1 = opts.xMax ?? Math.max(...xs);
  if (!all.length && opts.xMin === undefined) { x1 = Date.now(); x0 = x1 - 60000; }
  if (x1 === x0) x1 = x0 + 1000;
  const yMax = Math.max(1e-9, ...all.map((p) => p[1])) * 1.1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - y / yMax) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    root.append(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "axis" }));
    const t = svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" });
    t.textContent = fmtRate(y);
    root.append(t);
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    const t = svg("text", { x: sx(x), y: H - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" });
    t.textContent = fmtTime(x);
    root.append(t);
  }
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1)).join(" ");
    const path = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.name });
    if (s.dashed) path.setAttribute("stroke-dasharray", "5 4");
    root.append(path);
    if (s.points.length === 1) {
      // A single point draws no line: mark it.
      const [x, y] = s.points[0];
      root.append(svg("circle", { cx: sx(x), cy: sy(y), r: 3, fill: s.color }));
    }
  }
  const legend = el("div", { class: "legend" });
  for (const s of series) {
    const swatch = el("i");
    swatch.style.background = s.color;
    legend.append(el("span", {}, swatch, s.name));
  }
  container.replaceChildren(root, legend);
}

// barChart draws groups [{label, bars: [{name, value, color}]}] with values
// in [0, 1] as horizontal percentage bars.
function barChart(container, groups) {
  const rowH = 18, gap = 10, L = 110, R = 60, W = Math.max(300, container.clientWidth || 900);
  const nBars = groups.reduce((n, g) => n + g.bars.length, 0);
  const H = Math.max(40, nBars * rowH + groups.length * gap + 10);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}` });
  let y = 6;
  for (const g of groups) {
    const label = svg("text", { x: 0, y: y + 13 });
    label.textContent = g.label;
    root.append(label);
    for (const b of g.bars) {
      const w = Math.max(1, b.value * (W - L - R));
      root.append(svg("rect", { x: L, y, width: w, height: rowH - 4, fill: b.color, "data-psp": g.label, "data-bar": b.name }));
      const t = svg("text", { x: L + w + 6, y: y + 12 });
      t.textContent = fmtPct(b.value);
      root.append(t);
      y += rowH;
    }
    y += gap;
  }
  const legend = el("div", { class: "legend" });
  for (const b of groups.length ? groups[0].bars : []) {
    const swatch = el("i");
    swatch.style.background = b.color;
    legend.append(el("span", {}, swatch, b.name));
  }
  container.replaceChildren(root, legend);
}

const pspColors = new Map();
function pspColor(name) {
  if (!pspColors.has(name)) pspColors.set(name, PALETTE[pspColors.size % PALETTE.length]);
  return pspColors.get(name);
}

function touch() {
  $("updated").textContent = "updated " + fmtTime(Date.now());
}

async function refreshFlow() {
  try {
    const f = await getJSON("api/flow");
    const t = f.totals;
    setValue("total-final", t.final, fmtInt(t.final));
    setValue("total-approved", t.approved, fmtInt(t.approved));
    setValue("total-failovers", t.failovers, fmtInt(t.failovers));
    setValue("total-attempts", t.attempts, fmtInt(t.attempts));
    setValue("total-dead-letters", t.dead_letters, fmtInt(t.dead_letters));
    // Rates over the last 10 seconds.
    const recent = f.points.slice(-10);
    const avg = (k) => (recent.length ? recent.reduce((a, p) => a + p[k], 0) / recent.length : 0);
    setValue("rate-payments", avg("payments_per_s"), fmtRate(avg("payments_per_s")));
    setValue("rate-failovers", avg("failovers_per_s"), fmtRate(avg("failovers_per_s")));
    const approval = t.final ? t.approved / t.final : 0;
    setValue("approval-rate", approval, t.final ? fmtPct(approval) : "–");
    const pts = (k) => f.points.map((p) => [Date.parse(p.at), p[k]]);
    lineChart($("flow-chart"), [
      { name: "payments/s", color: PALETTE[0], points: pts("payments_per_s") },
      { name: "approved/s", color: PALETTE[1], points: pts("approved_per_s") },
      { name: "failovers/s", color: PALETTE[4], points: pts("failovers_per_s") },
    ], { height: 200 });
    note("flow-note", f.processor ? "" : "This instance runs no payment processor.");

    const body = $("lag").tBodies[0];
    body.replaceChildren(...f.lag.map((l) =>
      el("tr", { "data-topic": l.topic }, el("td", {}, l.group), el("td", {}, l.topic), el("td", { class: "num" }, fmtInt(l.lag)))));
    note("lag-note", f.lag_error ? "lag: " + f.lag_error : f.lag_at ? "read " + fmtTime(f.lag_at) : "not read yet", !!f.lag_error);
    document.body.dataset.flowLoaded = "true";
    touch();
  } catch (e) {
    note("flow-note", e.message, true);
  }
}

function healthCell(p) {
  if (!p.health.length) {
    // No health tracker: show what the last minute says.
    const cls = !p.live.attempts ? "" : p.live.psp_error_rate > 0.5 ? "bad" : p.live.psp_error_rate > 0.05 ? "warn" : "ok";
    const text = !p.live.attempts ? "no traffic" : fmtPct(1 - p.live.psp_error_rate) + " answered";
    return el("td", { "data-field": "health" }, el("span", { class: "dot " + cls }), text);
  }
  const td = el("td", { "data-field": "health" });
  // The whole account, then only the narrower scopes that are not healthy:
  // a healthy currency or network scope says nothing the account's line
  // does not.
  const shown = p.health.filter((h) => !h.scope || h.scope === "*" || !/^healthy$/i.test(h.state));
  for (const h of shown) {
    const cls = /^(up|healthy|closed)$/i.test(h.state) ? "ok" : /^(down|open|unhealthy)$/i.test(h.state) ? "bad" : "warn";
    const scope = h.scope && h.scope !== "*" ? h.scope + ": " : "";
    const window = h.window_calls ? " (" + fmtPct(h.failure_rate) + " failing)" : "";
    td.append(el("div", { title: h.reason || "" }, el("span", { class: "dot " + cls }), scope + h.state.toLowerCase() + (h.maintenance ? ", maintenance" : "") + window));
  }
  return td;
}

async function refreshPSPs() {
  try {
    const r = await getJSON("api/psps");
    const body = $("psps").tBodies[0];
    body.replaceChildren(...r.psps.map((p) => {
      const name = el("td", {}, el("span", { class: "dot" }), p.name);
      name.firstChild.style.background = pspColor(p.name);
      return el("tr", { "data-psp": p.name },
        name,
        el("td", {}, p.kind || "–"),
        healthCell(p),
        el("td", { class: "num", "data-field": "attempts", "data-value": p.live.attempts }, fmtInt(p.live.attempts)),
        el("td", { class: "num", "data-field": "approved" }, p.live.attempts ? fmtPct(p.live.approval_rate) : "–"),
        el("td", { class: "num", "data-field": "psp_errors", "data-value": p.live.psp_errors }, fmtInt(p.live.psp_errors)),
        el("td", { class: "num" }, p.live.attempts ? p.live.mean_latency_ms.toFixed(1) : "–"));
    }));
    note("psps-note", r.health_tracked ? "" : "No health tracker reports states: health is the share of attempts the PSP answered in the last minute.");
    document.body.dataset.pspsLoaded = "true";
  } catch (e) {
    note("psps-note", e.message, true);
  }
}

async function refreshReadiness() {
  const b = $("readiness");
  try {
    const r = await getJSON("readyz");
    b.textContent = r.ready ? "ready" : "not ready: " + r.checks.filter((c) => !c.ok).map((c) => c.name).join(", ");
    b.title = r.checks.map((c) => c.name + ": " + (c.ok ? "ok" : c.error + " — " + c.hint)).join("\n");
    b.className = "badge " + (r.ready ? "ok" : "bad");
    b.dataset.ready = String(r.ready);
  } catch (e) {
    b.textContent = "admin port unreachable";
    b.className = "badge bad";
  }
}

async function refreshConfig() {
  try {
    const c = await getJSON("api/config");
    $("config-version").textContent = "version " + c.version;
    $("config-version").dataset.version = c.version;
    $("cfg-version").textContent = c.version;
    $("cfg-default").textContent = c.default_route || "none (payments without routing are rejected)";
    $("cfg-routes").textContent = c.routes.length ? c.routes.map((r) => r.name + " → " + r.psps.join(" › ")).join("; ") : "none";
    $("cfg-rules").textContent = c.rules.length ? c.rules.join(", ") : "none";
    $("cfg-retry").textContent = String(c.retry_rules);
    $("cfg-versions").replaceChildren(...c.versions.map((v) => el("li", {}, v.version + " since " + new Date(v.since).toLocaleString("en-GB"))));
    $("cfg-yaml").textContent = c.yaml;
  } catch (e) {
    $("config-version").textContent = "no router";
  }
}

async function refreshCharts() {
  try {
    // The report over the configured window; the timeline over the last
    // five minutes, in five-second buckets.
    const [report, tl] = await Promise.all([getJSON("api/charts/psps"), getJSON("api/charts/timeline?minutes=5")]);
    $("charts-window").textContent = "whole cluster, since " + fmtTime(report.from);
    barChart($("ch-psps"), report.psps.map((p) => ({
      label: p.psp,
      bars: [
        { name: "success rate", value: p.success_rate, color: PALETTE[1] },
        { name: "failover rate", value: p.failover_rate, color: PALETTE[4] },
      ],
    })));
    const byPSP = new Map();
    for (const b of tl.buckets) {
      if (!byPSP.has(b.psp)) byPSP.set(b.psp, { attempts: [], errors: [] });
      const at = Date.parse(b.at);
      byPSP.get(b.psp).attempts.push([at, b.attempts / tl.step_seconds]);
      byPSP.get(b.psp).errors.push([at, b.psp_errors / tl.step_seconds]);
    }
    const series = [];
    for (const [psp, s] of byPSP) {
      series.push({ name: psp + " attempts/s", color: pspColor(psp), points: s.attempts });
      series.push({ name: psp + " errors/s", color: pspColor(psp), dashed: true, points: s.errors });
    }
    lineChart($("ch-timeline"), series, { height: 220, xMin: Date.parse(tl.from), xMax: Date.now() });
    const body = $("ch-table").tBodies[0];
    body.replaceChildren(...report.psps.map((p) => el("tr", { "data-psp": p.psp },
      el("td", {}, p.psp),
      el("td", { class: "num", "data-field": "attempts", "data-value": p.attempts }, fmtInt(p.attempts)),
      el("td", { class: "num" }, fmtPct(p.success_rate)),
      el("td", { class: "num" }, fmtPct(p.first_choice_success_rate)),
      el("td", { class: "num" }, fmtInt(p.psp_errors)),
      el("td", { class: "num", "data-field": "failovers_out", "data-value": p.failovers_out }, fmtInt(p.failovers_out)),
      el("td", { class: "num" }, fmtInt(p.failovers_in)),
      el("td", { class: "num" }, fmtInt(p.recovered)))));
    note("charts-note", report.payments + " payments and " + report.attempts + " attempts in ClickHouse in the window.");
    document.body.dataset.chartsLoaded = "true";
  } catch (e) {
    note("charts-note", "ClickHouse: " + e.message, true);
  }
}

function setupExplain() {
  $("explain-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("explain-result");
    try {
      const res = await fetch("api/explain", { method: "POST", body: $("explain-event").value, headers: { "Content-Type": "application/json" } });
      const body = await res.json();
      out.textContent = JSON.stringify(body, null, 2);
    } catch (e) {
      out.textContent = "explain: " + e.message;
    }
  });
}

function every(ms, fn) {
  fn();
  setInterval(fn, ms);
}

setupExplain();
every(FAST_MS, refreshFlow);
every(FAST_MS, refreshPSPs);
every(FAST_MS, refreshReadiness);
every(SLOW_MS, refreshConfig);
every(SLOW_MS, refreshCharts);
