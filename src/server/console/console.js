// The console's logic: poll the daemon's read-only JSON once a second and draw it. Charts are plain
// SVG built here (no chart library, nothing to fetch or bundle). Every string that came from the
// daemon is set as text, never as HTML: tenant and model names are other people's bytes.
'use strict';

const REFRESH_MS = 1000;
const TIER_COLORS = { dram: '#2a5bd7', disk: '#d97706', peer: '#16a34a' };
const SVG_NS = 'http://www.w3.org/2000/svg';
let refreshes = 0;

// ---- formatting ---------------------------------------------------------------------------------
const fmtInt = (n) => Number(n).toLocaleString('en-US');
const fmtPct = (r) => (r * 100).toFixed(1) + '%';
function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
}
function fmtRate(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }
function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
function fmtSeconds(s) {
  return s < 60 ? s.toFixed(s < 10 ? 2 : 1) + ' s' : s < 3600 ? (s / 60).toFixed(1) + ' min' : (s / 3600).toFixed(1) + ' h';
}
function fmtMoney(v, currency) {
  try {
    return v.toLocaleString('en-US', { style: 'currency', currency, maximumFractionDigits: v < 1 ? 4 : 2 });
  } catch {
    return `${v.toFixed(2)} ${currency}`;  // not an ISO 4217 code: print it as written
  }
}
const fmtClock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

// ---- tiny DOM helpers -----------------------------------------------------------------------------
function el(tag, attrs = {}, text) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
// Sets a KPI card: the text a person reads, and the raw number (data-value) a test can compare.
function setStat(name, value, text) {
  const e = document.querySelector(`[data-stat="${name}"]`);
  e.dataset.value = String(value);
  e.textContent = text;
}
function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = el('tr');
    for (const c of cells) {
      const td = el('td', c.num ? { class: 'num' } : {});
      if (c.node) td.append(c.node); else td.textContent = c.text;
      if (c.title) td.title = c.title;
      tr.append(td);
    }
    return tr;
  }));
}
function legend(id, items) {
  document.getElementById(id).replaceChildren(...items.map(([name, color]) => {
    const s = el('span');
    const sw = el('i');
    sw.style.background = color;
    s.append(sw, document.createTextNode(name));
    return s;
  }));
}

// ---- the line chart -------------------------------------------------------------------------------
// series: [{color, points: [[t_ms, value|null], ...]}]; a null value breaks the line (no
// data for that second, e.g. no reads), so a gap is never drawn as a fall to zero.
function lineChart(svg, series, { yMax, yFormat, tMin, tMax }) {
  const W = 600, H = 200, L = 62, R = 8, T = 8, B = 22;
  svg.replaceChildren();
  const x = (t) => L + (tMax > tMin ? (t - tMin) / (tMax - tMin) : 1) * (W - L - R);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el('svg:line', { class: 'grid-line', x1: L, x2: W - R, y1: y(f * yMax), y2: y(f * yMax) }));
    svg.append(el('svg:text', { class: 'axis', x: L - 6, y: y(f * yMax) + 4, 'text-anchor': 'end' }, yFormat(f * yMax)));
  }
  svg.append(el('svg:text', { class: 'axis', x: L, y: H - 6 }, fmtClock(tMin)));
  svg.append(el('svg:text', { class: 'axis', x: W - R, y: H - 6, 'text-anchor': 'end' }, fmtClock(tMax)));
  let drawn = 0;
  const ok = (p) => p && p[1] !== null && isFinite(p[1]);
  for (const s of series) {
    let d = '', pen = false;
    s.points.forEach(([t, v], i) => {
      if (!ok(s.points[i])) { pen = false; return; }
      const px = x(t).toFixed(1), py = y(Math.min(v, yMax)).toFixed(1);
      d += `${pen ? 'L' : 'M'}${px},${py}`;
      pen = true;
      ++drawn;
      // A second with data between two without is a dot, or it would not show at all.
      if (!ok(s.points[i - 1]) && !ok(s.points[i + 1])) svg.append(el('svg:circle', { cx: px, cy: py, r: 3, fill: s.color }));
    });
    if (d) svg.append(el('svg:path', { class: 'series', d, stroke: s.color }));
  }
  if (!drawn) svg.append(el('svg:text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no data yet'));
}
// A y-axis top a person reads: 1, 2 or 5 times a power of ten, above the largest value.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- panels --------------------------------------------------------------------------------------
function drawStats(s) {
  const hits = s.gets - s.get_misses;
  setStat('hit_ratio', s.hit_ratio, s.gets ? fmtPct(s.hit_ratio) : '–');
  const lr = s.lookup_keys ? s.lookup_hits / s.lookup_keys : 0;
  setStat('lookup_hit_ratio', lr, s.lookup_keys ? fmtPct(lr) : '–');
  setStat('gets', s.gets, fmtInt(s.gets));
  setStat('get_hits', hits, fmtInt(hits));
  setStat('get_misses', s.get_misses, fmtInt(s.get_misses));
  setStat('puts', s.puts, fmtInt(s.puts));
  setStat('lookups', s.lookups, fmtInt(s.lookups));
  setStat('connections', s.connections, fmtInt(s.connections));
  const tokens = (k) => (s.usage || []).reduce((sum, u) => sum + u[k], 0);
  setStat('hit_tokens', tokens('hit_tokens'), fmtInt(tokens('hit_tokens')));
  setStat('write_tokens', tokens('write_tokens'), fmtInt(tokens('write_tokens')));
  const econ = s.economics || {};
  currency = econ.currency || 'USD';
  price = econ.gpu_hour_price || 0;
  const rated = econ.prefill_tokens_per_s > 0 || Object.keys(econ.prefill_tokens_per_s_by_model || {}).length > 0;
  setStat('gpu_seconds_saved', econ.gpu_seconds_saved || 0, rated ? fmtSeconds(econ.gpu_seconds_saved) : 'no rate set');
  document.getElementById('rate-note').textContent = !rated ? ''
    : econ.prefill_tokens_per_s > 0 ? `(prefill at ${fmtInt(econ.prefill_tokens_per_s)} tok/s)` : '(per-model prefill rates)';
  setStat('money_saved', econ.money_saved || 0, rated && econ.gpu_hour_price > 0 ? fmtMoney(econ.money_saved, econ.currency) : '–');
  document.getElementById('price-note').textContent =
    econ.gpu_hour_price > 0 ? `${fmtMoney(econ.gpu_hour_price, econ.currency)}/GPU-hour` : 'no GPU-hour price set';
  document.getElementById('uptime').textContent = fmtDuration(s.uptime_s);

  fillTable('tiers', s.tiers.map((t) => {
    const bar = el('span', { class: 'bar' });
    const fill = el('span');
    fill.style.width = (t.capacity_bytes ? Math.min(100, (100 * t.used_bytes) / t.capacity_bytes) : 0) + '%';
    fill.style.background = TIER_COLORS[t.tier] || '#888';
    bar.append(fill);
    const cell = el('span', { 'data-tier-used': t.tier, 'data-value': String(t.used_bytes) });
    cell.append(bar, document.createTextNode(`${fmtBytes(t.used_bytes)} / ${fmtBytes(t.capacity_bytes)}`));
    return [{ text: t.tier }, { node: cell }, { text: fmtInt(t.objects), num: true }, { text: fmtInt(t.hits), num: true },
            { text: fmtInt(t.evictions), num: true }, { text: fmtInt(t.errors), num: true },
            { text: t.admitting ? 'yes' : 'NO (write error)' }];
  }));
  drawCluster(s.cluster);
}

function drawHealth(ok, status, text) {
  const badge = document.getElementById('health');
  const box = document.getElementById('degraded');
  let state = 'ok', reasons = '';
  if (!ok) state = 'down';
  else if (status === 503) state = 'draining';
  else if (text.startsWith('degraded: ')) { state = 'degraded'; reasons = text.slice('degraded: '.length).trim(); }
  badge.dataset.health = state;
  badge.textContent = state === 'down' ? 'unreachable' : state;
  box.hidden = !reasons;
  if (reasons) {
    box.replaceChildren(el('strong', {}, 'Degraded: '), ...reasons.split('; ').map((r) => el('div', {}, r)));
  }
}

function drawHistory(h) {
  const samples = h.samples;
  if (!samples.length) return;
  const tMin = samples[0].t_ms, tMax = samples[samples.length - 1].t_ms;
  // Rates come from neighbouring cumulative samples; a daemon restart (counters fall) is a gap.
  const rate = (f) => samples.slice(1).map((s, i) => {
    const p = samples[i], dt = (s.t_ms - p.t_ms) / 1000, dv = f(s) - f(p);
    return [s.t_ms, dt > 0 && dv >= 0 ? dv / dt : null];
  });
  const ratio = (num, den) => samples.slice(1).map((s, i) => {
    const p = samples[i], d = den(s) - den(p);
    return [s.t_ms, d > 0 ? (num(s) - num(p)) / d : null];
  });
  lineChart(document.getElementById('chart-hits'), [
    { color: '#2a5bd7', points: ratio((s) => s.gets - s.get_misses, (s) => s.gets) },
    { color: '#9333ea', points: ratio((s) => s.lookup_hits, (s) => s.lookup_keys) },
  ], { yMax: 1, yFormat: (v) => (v * 100).toFixed(0) + '%', tMin, tMax });
  legend('legend-hits', [['object reads', '#2a5bd7'], ['prefix keys (lookups)', '#9333ea']]);

  // Occupancy as a share of each tier's capacity: tiers differ by orders of magnitude in size, and
  // "how full" is the question; the legend gives the bytes.
  const tiers = Object.keys(samples[samples.length - 1].tiers);
  const last = samples[samples.length - 1].tiers;
  const occ = [], occLegend = [];
  for (const t of tiers) {
    const c = TIER_COLORS[t] || '#888';
    occ.push({ color: c, points: samples.map((s) => {
      const v = s.tiers[t];
      return [s.t_ms, v && v.capacity_bytes ? v.used_bytes / v.capacity_bytes : null];
    }) });
    occLegend.push([`${t}: ${fmtBytes(last[t].used_bytes)} of ${fmtBytes(last[t].capacity_bytes)}`, c]);
  }
  lineChart(document.getElementById('chart-occupancy'), occ, { yMax: 1, yFormat: (v) => (v * 100).toFixed(0) + '%', tMin, tMax });
  legend('legend-occupancy', occLegend);

  const churn = [{ color: '#111827', points: rate((s) => s.puts) }];
  const churnLegend = [['puts/s', '#111827']];
  for (const t of tiers) {
    churn.push({ color: TIER_COLORS[t] || '#888', points: rate((s) => (s.tiers[t] ? s.tiers[t].evictions : 0)) });
    churnLegend.push([`${t} evictions/s`, TIER_COLORS[t] || '#888']);
  }
  let peak = 0;
  for (const s of churn) for (const [, v] of s.points) if (v > peak) peak = v;
  lineChart(document.getElementById('chart-churn'), churn, { yMax: niceMax(peak), yFormat: fmtRate, tMin, tMax });
  legend('legend-churn', churnLegend);
}

// Hit tokens with where they were found (a title a person hovers), miss and write tokens, GPU
// time saved (with the money, where a price is set, as its title).
let currency = 'USD', price = 0;
function tokenCells(u) {
  const by = u.hit_tokens_by_tier;
  return [{ text: fmtInt(u.hit_tokens), num: true, title: `dram ${fmtInt(by.dram)} · disk ${fmtInt(by.disk)} · peer ${fmtInt(by.peer)}` },
          { text: fmtInt(u.miss_tokens), num: true }, { text: fmtInt(u.write_tokens), num: true },
          { text: u.gpu_seconds_saved > 0 ? fmtSeconds(u.gpu_seconds_saved) : '–', num: true,
            title: price > 0 ? fmtMoney(u.money_saved, currency) : '' }];
}

function drawTenants(u) {
  fillTable('tenants', u.tenants.slice(0, 10).map((t) => [
    { text: t.tenant || '(none)' },
    { text: fmtBytes(t.dram_used_bytes), num: true, title: `quota or capacity ${fmtBytes(t.dram_capacity_bytes)}; ${t.namespaces} namespace(s)` },
    { text: fmtInt(t.gets), num: true },
    { text: t.gets ? fmtPct(t.hit_ratio) : '–', num: true }, ...tokenCells(t)]));
  fillTable('namespaces', u.namespaces.slice(0, 10).map((n) => [
    { text: n.tenant }, { text: n.model_id }, { node: el('code', {}, n.namespace.slice(0, 12) + '…'), title: `${n.namespace}; ${fmtBytes(n.object_bytes)} objects` },
    ...tokenCells(n)]));
}

function drawEvictions(e) {
  document.getElementById('evictions-total').textContent = fmtInt(e.total);
  fillTable('evictions', e.evictions.slice(0, 15).map((r) => [
    { text: fmtClock(r.t_ms) }, { text: r.tier }, { text: r.tenant || '(unknown)' }, { text: r.model_id },
    { node: el('code', {}, r.key.slice(0, 12) + '…'), title: r.key }]));
}

function drawCluster(c) {
  const box = document.getElementById('cluster');
  if (!c) { box.className = 'muted'; box.textContent = 'not a cluster node'; return; }
  box.className = '';
  const head = el('div', {}, `node ${c.node_id} of cluster ${c.cluster} · etcd ${c.etcd_ok ? 'ok' : 'UNREACHABLE'}` +
    ` · ${c.replicas} replica(s) · under-replicated ${fmtInt(c.rereplication ? c.rereplication.under_replicated : 0)}`);
  const suspect = new Map((c.peers || []).map((p) => [p.node_id, p]));
  const table = el('table');
  table.append(el('thead'));
  table.tHead.append(el('tr'));
  for (const h of ['member', 'address', 'health', 'requests', 'errors']) table.tHead.rows[0].append(el('th', {}, h));
  const body = el('tbody');
  for (const m of c.members || []) {
    const p = suspect.get(m.node_id);
    const tr = el('tr');
    const health = m.node_id === c.node_id ? 'this node' : p && p.suspect ? 'SUSPECT' : 'ok';
    for (const v of [m.node_id, m.addr, health, p ? fmtInt(p.requests) : '–', p ? fmtInt(p.errors) : '–']) tr.append(el('td', {}, v));
    body.append(tr);
  }
  table.append(body);
  box.replaceChildren(head, table);
}

// ---- the loop -------------------------------------------------------------------------------------
async function getJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function refresh() {
  try {
    const health = await fetch('/healthz', { cache: 'no-store' }).then(async (r) => [r.status, await r.text()]);
    drawHealth(true, health[0], health[1]);
    const [stats, history, evictions, tenants] = await Promise.all(
      [getJson('/stats'), getJson('/stats/history'), getJson('/stats/evictions'), getJson('/stats/tenants')]);
    drawStats(stats);
    drawHistory(history);
    drawEvictions(evictions);
    drawTenants(tenants);
    refreshes += 1;
    const r = document.getElementById('refreshes');
    r.dataset.value = String(refreshes);
    r.textContent = String(refreshes);
    document.getElementById('updated').textContent = fmtClock(Date.now());
  } catch (err) {
    drawHealth(false, 0, '');
    console.error(err);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
