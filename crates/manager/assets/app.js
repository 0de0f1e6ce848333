// The groupcast dashboard: reads /api/v1/overview every second and draws it. No framework,
// no build step, no external resources.
"use strict";

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#eeca3b"];
const metroColor = {};
let token = null;

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function colorOf(metro) {
  if (!(metro in metroColor)) metroColor[metro] = PALETTE[Object.keys(metroColor).length % PALETTE.length];
  return metroColor[metro];
}

function chip(metro) {
  return `<span class="chip" style="background:${colorOf(metro)}">${esc(metro)}</span>`;
}

function table(el, head, rows) {
  const h = "<tr>" + head.map(c => `<th>${esc(c)}</th>`).join("") + "</tr>";
  const body = rows.length ? rows.map(r => "<tr>" + r.join("") + "</tr>").join("")
                           : `<tr><td class="empty" colspan="${head.length}">none</td></tr>`;
  el.innerHTML = h + body;
}

const td = v => `<td>${esc(v)}</td>`;
const num = v => `<td class="num">${esc(v)}</td>`;

// A line chart of `series` ([{color, values}]) over `n` points, as inline SVG.
function chart(series, label) {
  const w = 340, h = 80, n = Math.max(2, ...series.map(s => s.values.length));
  const max = Math.max(1, ...series.flatMap(s => s.values));
  const paths = series.map(s => {
    const pts = s.values.map((v, i) => `${(i * w / (n - 1)).toFixed(1)},${(h - v * (h - 4) / max).toFixed(1)}`);
    return `<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts.join(" ")}"/>`;
  }).join("");
  return `<svg viewBox="0 0 ${w} ${h + 12}" role="img" aria-label="${esc(label)}">
    <line x1="0" y1="${h}" x2="${w}" y2="${h}" stroke="#dde1e7"/>${paths}
    <text x="0" y="${h + 11}" font-size="9" fill="#6b7585">${esc(label)} (max ${max} per 2 s)</text></svg>`;
}

function drawMetros(metros) {
  const el = document.getElementById("metros");
  if (!metros.length) { el.innerHTML = `<div class="empty">no metro yet</div>`; return; }
  el.innerHTML = metros.map(m => {
    const pick = k => m.samples.map(s => s[k]);
    const sum = k => pick(k).reduce((a, b) => a + b, 0);
    const flag = m.flagged ? `<span class="flag" data-testid="flag">failing device suspected</span>` : "";
    return `<div class="metro${m.flagged ? " flagged" : ""}" data-metro="${esc(m.name)}">
      <h3><span>${chip(m.name)} ${m.viewers} viewer${m.viewers === 1 ? "" : "s"}</span>${flag}</h3>
      <div class="meta">shared loss ${(m.shared_loss * 100).toFixed(0)} % ·
        received ${sum("received")} · lost ${sum("lost")} · repaired ${sum("repaired")} · unrecovered ${sum("unrecovered")} (5 min)</div>
      ${chart([{ color: "#4c78a8", values: pick("received") }], "received")}
      ${chart([{ color: "#2ca02c", values: pick("repaired") }, { color: "#d62728", values: pick("unrecovered") }], "repaired / unrecovered")}
      <div class="legend"><span><i style="background:#4c78a8"></i>received</span><span><i style="background:#2ca02c"></i>repaired</span><span><i style="background:#d62728"></i>unrecovered</span></div>
    </div>`;
  }).join("");
}

function draw(o) {
  const flagged = o.metros.filter(m => m.flagged).length;
  document.getElementById("totals").innerHTML = [
    ["channels", o.channels.length], ["live viewers", o.sessions.length],
    ["groups", o.groups.length], ["metros", o.metros.length], ["metros flagged", flagged],
  ].map(([k, v]) => `<div class="total" data-testid="total-${k.replace(/ /g, "-")}"><b>${v}</b>${k}</div>`).join("");
  drawMetros(o.metros);
  table(document.getElementById("channels"), ["channel", "id", "group", "SSM source", "metro groups", "group size", "chunk", "buffer ms", "viewers"],
    o.channels.map(([c, n]) => [td(c.name), num(c.id), td(c.group), td(c.source || "-"),
      td(Object.entries(c.metro_groups).map(([m, g]) => `${m}=${g}`).join(", ") || "-"),
      num(c.group_size), num(c.chunk_packets), num(c.buffer_ms), num(n)]));
  table(document.getElementById("groups"), ["channel", "group", "epoch", "members", "metros"],
    o.groups.map(g => [td(g.channel), num(g.group), num(g.epoch), num(g.members.length),
      `<td>${g.members.map(m => chip(m.metro)).join("")}</td>`]));
  table(document.getElementById("sessions"), ["session", "user", "channel", "metro", "peer", "group", "received", "lost", "repaired", "unrecovered", "peers", "last seen"],
    o.sessions.map(s => [num(s.session), td(s.user), td(s.channel), `<td>${chip(s.metro)}</td>`, td(s.peer_addr),
      num(`${s.group}/${s.epoch}`), num(s.stats.received), num(s.stats.lost), num(s.stats.repaired),
      num(s.stats.unrecovered), num(s.stats.peers), num(`${((o.now_ms - s.last_seen_ms) / 1000).toFixed(1)} s ago`)]));
}

function status(text, error) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function refresh() {
  try {
    const r = await fetch("/api/v1/overview", { headers: { Authorization: "Bearer " + token } });
    if (r.status === 401 || r.status === 403) {
      sessionStorage.removeItem("groupcast-token");
      status("token refused: give an admin token", true);
      showLogin();
      return;
    }
    if (!r.ok) throw new Error(`${r.status}`);
    draw(await r.json());
    document.getElementById("main").hidden = false;
    status("live · updated " + new Date().toLocaleTimeString(), false);
  } catch (e) {
    status("manager unreachable (" + e.message + "), retrying", true);
  }
  setTimeout(refresh, 1000);
}

function showLogin() {
  const form = document.getElementById("login");
  form.hidden = false;
  form.onsubmit = ev => {
    ev.preventDefault();
    token = document.getElementById("token").value.trim();
    sessionStorage.setItem("groupcast-token", token);
    form.hidden = true;
    refresh();
  };
}

function start() {
  const m = /token=([^&]+)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem("groupcast-token", token);
    history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  } else {
    token = sessionStorage.getItem("groupcast-token");
  }
  if (token) refresh(); else showLogin();
}

start();
