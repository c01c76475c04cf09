// cprof-trace web UI: the timeline (canvas, data fetched per view from
// /api/view) and the analysis pages (documents from /api/report).
// All times from the server are ns since the trace's first event.
// The vocabulary comes from /api/meta, never from lists of our own: the
// analyses (menu, titles, renderers), the block categories (colours and
// columns) and the span kinds of /api/view.
'use strict';

const $ = (id) => document.getElementById(id);
let meta = null;
const strings = {}; // id -> text (/api/meta sends only the defined ids)
const str = (id) => (id && strings[id] != null ? strings[id] : '?');

function fmtDur(ns) {
  ns = Number(ns);
  if (ns < 1e3) return ns.toFixed(0) + 'ns';
  if (ns < 1e6) return (ns / 1e3).toPrecision(3) + 'us';
  if (ns < 1e9) return (ns / 1e6).toPrecision(3) + 'ms';
  return (ns / 1e9).toPrecision(3) + 's';
}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
async function getJSON(url, signal) {
  const r = await fetch(url, { signal });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

// ---------------------------------------------------------------- timeline
const LANE_H = 16, TASK_H = 12, GUTTER = 190, AXIS_H = 22;
let KIND = [];             // span kind index -> name (meta.span_kinds)
const KIND_COLOR = { task: '#9fc5a8', merged: '#9aa4ad' }; // + the block categories' colours
let CLASSES = [];          // time classes: exec, the block categories, sched, other (blocked, no call known)
let analysisByName = {};   // name -> {name, title, nav, page, pprof}
const tl = { t0: 0, t1: 1, data: null, rows: [], pending: null, query: '', matchNames: null, selected: null, drawn: 0 };

function nameColor(id) {
  let h = (id * 2654435761) % 360;
  return `hsl(${h},55%,68%)`;
}

// Kernel layers (perf context switches): state colours by meta.state_names,
// drawn as each thread row's background; CPU rows and counters on top.
const STATE_COLOR = { running: '#4caf50', runnable: '#9e7cc1', other: '#a0a0a0' }; // + the block categories'
const CPU_H = 12, COUNT_H = 26;

function layoutRows() {
  // rows: counters and CPUs (kernel records), task lanes, then every
  // thread's lanes (at least one)
  const rows = [];
  let y = AXIS_H;
  if (meta.states) {
    rows.push({ kind: 'count', which: 1, label: 'threads running', y, h: COUNT_H }); y += COUNT_H;
    rows.push({ kind: 'count', which: 2, label: 'threads runnable', y, h: COUNT_H }); y += COUNT_H;
    for (let c = 0; c < meta.cpus; c++) { rows.push({ kind: 'cpu', cpu: c, y, h: CPU_H }); y += CPU_H; }
    y += 4;
  }
  // at most 8 task lanes: more concurrent tasks than that are listed on the Tasks page
  for (let l = 0; l < Math.min(8, meta.task_lanes); l++) { rows.push({ kind: 'task', lane: l, y, h: TASK_H }); y += TASK_H; }
  if (meta.task_lanes) y += 4;
  // main first, then by start routine, then tid
  const order = meta.threads.map((t, i) => i).sort((a, b) => {
    const x = meta.threads[a], y = meta.threads[b];
    const kx = x.tid === meta.pid ? '' : (x.group || '~' + x.name), ky = y.tid === meta.pid ? '' : (y.group || '~' + y.name);
    return kx < ky ? -1 : kx > ky ? 1 : x.tid - y.tid;
  });
  order.forEach((i) => {
    const t = meta.threads[i];
    const n = Math.max(1, t.lanes);
    rows.push({ kind: 'thread', th: i, y, h: n * LANE_H + 4, lanes: n });
    y += n * LANE_H + 4;
  });
  tl.rows = rows;
  tl.height = y + 6;
}

function canvasSize() {
  const c = $('tl');
  const w = Math.max(400, c.parentElement.clientWidth);
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(tl.height * dpr)) {
    c.width = Math.round(w * dpr); c.height = Math.round(tl.height * dpr);
    c.style.width = w + 'px'; c.style.height = tl.height + 'px';
  }
  return { c, w, dpr };
}

const plotW = () => $('tl').clientWidth - GUTTER;
const xOf = (ns) => GUTTER + (ns - tl.t0) / (tl.t1 - tl.t0) * plotW();
const nsOf = (x) => tl.t0 + (x - GUTTER) / plotW() * (tl.t1 - tl.t0);

function requestView() {
  if (tl.pending) tl.pending.abort();
  const ctl = new AbortController();
  tl.pending = ctl;
  const w = Math.max(1, Math.round(plotW()));
  const t0 = Math.floor(tl.t0), t1 = Math.max(Math.ceil(tl.t1), t0 + 1);
  getJSON(`/api/view?t0=${t0}&t1=${t1}&w=${w}`, ctl.signal).then((d) => {
    tl.data = d; tl.pending = null; draw();
    // time from navigation start until the first timeline with data was drawn
    if (tl.firstDrawMs == null) { tl.firstDrawMs = performance.now(); draw(); }
  }).catch((e) => { if (e.name !== 'AbortError') showDetails('error: ' + e.message); });
}

let viewTimer = null;
function viewChanged() {
  draw();
  clearTimeout(viewTimer);
  viewTimer = setTimeout(requestView, 25);
  const q = `#timeline@${Math.round(tl.t0)},${Math.round(tl.t1)}`;
  history.replaceState(null, '', q);
}

function drawSpan(g, sp, y, h) {
  const [b, e, name, kind, n] = sp;
  let x0 = xOf(b), x1 = xOf(e);
  if (x1 < GUTTER || x0 > g.canvas.clientWidth) return;
  x0 = Math.max(x0, GUTTER); x1 = Math.max(x1, x0 + 1);
  const k = KIND[kind] || 'merged';
  let color = k === 'region' ? nameColor(name) : KIND_COLOR[k];
  if (n > 1) color = k === 'merged' ? KIND_COLOR.merged : color;
  const dim = tl.matchNames && !(n === 1 && tl.matchNames.has(name));
  g.globalAlpha = dim ? 0.25 : 1;
  g.fillStyle = color;
  g.fillRect(x0, y, x1 - x0, h - 1);
  if (n === 1 && x1 - x0 > 30) {
    g.fillStyle = '#111';
    g.fillText(str(name), x0 + 2, y + h - 4, x1 - x0 - 4);
    tl.drawnNames.add(str(name));
  } else if (n === 1) tl.drawnNames.add(str(name));
  g.globalAlpha = 1;
  tl.drawn++;
}

// A counter row: a step function of [ts, running, runnable] points.
function drawCount(g, r, d) {
  const pts = d.counts || [];
  let most = 1;
  pts.forEach((p) => { most = Math.max(most, p[r.which]); });
  g.fillStyle = r.which === 1 ? STATE_COLOR.running : STATE_COLOR.runnable;
  const right = g.canvas.clientWidth;
  pts.forEach((p, i) => {
    if (!p[r.which]) return;
    const x0 = Math.max(GUTTER, xOf(p[0])), x1 = i + 1 < pts.length ? xOf(pts[i + 1][0]) : Math.min(right, xOf(meta.duration_ns));
    if (x1 < GUTTER || x0 > right) return;
    const h = (r.h - 4) * p[r.which] / most;
    g.fillRect(x0, r.y + r.h - 2 - h, Math.max(1, x1 - x0), h);
  });
  g.fillStyle = '#223';
  g.fillText(`${r.label} (max ${most})`, 4, r.y + 14, GUTTER - 8);
}

// A CPU row: which thread ran there, coloured by thread.
function drawCpu(g, r, d) {
  g.fillStyle = '#223';
  g.fillText(`CPU ${r.cpu}`, 4, r.y + 10, GUTTER - 8);
  ((d.cpus || [])[r.cpu] || []).forEach(([b, e, th, n]) => {
    let x0 = xOf(b), x1 = xOf(e);
    if (x1 < GUTTER || x0 > g.canvas.clientWidth) return;
    x0 = Math.max(x0, GUTTER); x1 = Math.max(x1, x0 + 1);
    const t = meta.threads[th] || { tid: 0 };
    g.fillStyle = nameColor(t.tid + 7);
    g.fillRect(x0, r.y + 1, x1 - x0, r.h - 2);
    if (x1 - x0 > 40) { g.fillStyle = '#111'; g.fillText(`${t.name || t.tid}`, x0 + 2, r.y + r.h - 2, x1 - x0 - 4); }
  });
}

// A thread row's background: its states; its CPU samples as ticks below.
function drawStates(g, r, d) {
  const st = (d.states || [])[r.th] || [];
  g.globalAlpha = 0.28;
  st.forEach(([b, e, cls]) => {
    let x0 = xOf(b), x1 = xOf(e);
    if (x1 < GUTTER || x0 > g.canvas.clientWidth) return;
    x0 = Math.max(x0, GUTTER); x1 = Math.max(x1, x0 + 1);
    g.fillStyle = STATE_COLOR[meta.state_names[cls]] || '#ccc';
    g.fillRect(x0, r.y, x1 - x0, r.h);
  });
  g.globalAlpha = 1;
  g.fillStyle = '#1f3b73';
  ((d.samples || [])[r.th] || []).forEach((ts) => { const x = xOf(ts); if (x >= GUTTER) g.fillRect(x, r.y + r.h - 5, 1, 4); });
  tl.stateSpans += st.length;
}

function draw() {
  if (!meta) return;
  const { c, w, dpr } = canvasSize();
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, tl.height);
  g.font = '11px system-ui, "DejaVu Sans", sans-serif';
  tl.drawn = 0; tl.drawnNames = new Set(); tl.stateSpans = 0;
  const d = tl.data;
  // rows
  tl.rows.forEach((r, i) => {
    g.fillStyle = i % 2 ? '#f4f6f8' : '#fff';
    g.fillRect(0, r.y, w, r.h);
    g.fillStyle = '#223';
    if (r.kind === 'count') { if (d) drawCount(g, r, d); return; }
    if (r.kind === 'cpu') { if (d) drawCpu(g, r, d); return; }
    if (r.kind === 'thread') {
      const t = meta.threads[r.th];
      if (d) drawStates(g, r, d);
      const label = `${t.group || t.name || 'thread'} ${t.tid}` + (t.lost ? ` (${t.lost} dropped)` : '');
      g.fillStyle = t.lost ? '#b00' : '#223';
      g.fillText(label, 4, r.y + 12, GUTTER - 8);
      const lanes = d && d.threads[r.th] || [];
      lanes.forEach((lane, l) => lane.forEach((sp) => drawSpan(g, sp, r.y + 2 + l * LANE_H, LANE_H)));
    } else {
      if (r.lane === 0) g.fillText(meta.task_lanes > 8 ? `tasks (8 of ${meta.task_lanes} lanes)` : 'tasks', 4, r.y + 10);
      const lane = d && d.tasks[r.lane] || [];
      lane.forEach((sp) => drawSpan(g, sp, r.y, TASK_H));
    }
  });
  if (d) {
    // logs: small ticks at the top of their thread's row
    const rowOf = {};
    tl.rows.forEach((r) => { if (r.kind === 'thread') rowOf[r.th] = r; });
    g.fillStyle = '#222';
    d.logs.forEach(([ts, th]) => {
      const r = rowOf[th]; if (!r) return;
      const x = xOf(ts);
      g.beginPath(); g.moveTo(x, r.y + 5); g.lineTo(x - 3, r.y); g.lineTo(x + 3, r.y); g.fill();
    });
    // wake-up arrows
    g.strokeStyle = 'rgba(60,60,160,0.6)';
    d.wakes.forEach(([ts, a, b]) => {
      const ra = rowOf[a], rb = rowOf[b]; if (!ra || !rb) return;
      const x = xOf(ts);
      g.beginPath(); g.moveTo(x, ra.y + ra.h / 2); g.lineTo(x, rb.y + rb.h / 2); g.stroke();
      g.fillStyle = 'rgba(60,60,160,0.8)';
      const dir = rb.y > ra.y ? -1 : 1;
      g.beginPath(); g.moveTo(x, rb.y + rb.h / 2); g.lineTo(x - 3, rb.y + rb.h / 2 + 5 * dir); g.lineTo(x + 3, rb.y + rb.h / 2 + 5 * dir); g.fill();
    });
  }
  // axis
  g.fillStyle = '#eef1f4'; g.fillRect(0, 0, w, AXIS_H);
  g.fillStyle = '#334';
  const span = tl.t1 - tl.t0, step = niceStep(span / 8);
  for (let t = Math.ceil(tl.t0 / step) * step; t < tl.t1; t += step) {
    const x = xOf(t);
    g.fillRect(x, AXIS_H - 6, 1, 6);
    g.fillText(fmtDur(t), x + 2, 12);
  }
  g.fillStyle = '#ccd'; g.fillRect(GUTTER - 1, 0, 1, tl.height);
  if (tl.range) { // the shift-drag selection
    const a = xOf(Math.min(tl.range.a, tl.range.b)), b = xOf(Math.max(tl.range.a, tl.range.b));
    g.fillStyle = 'rgba(255,204,102,0.35)'; g.fillRect(a, 0, Math.max(1, b - a), tl.height);
    g.fillStyle = '#223'; g.fillText(fmtDur(Math.abs(tl.range.b - tl.range.a)), a + 3, AXIS_H + 12);
  }
  if (tl.selected) {
    g.strokeStyle = '#000'; g.lineWidth = 2;
    const s = tl.selected;
    g.strokeRect(xOf(s.b), s.y, Math.max(2, xOf(s.e) - xOf(s.b)), s.h - 1); g.lineWidth = 1;
  }
  $('range').textContent = `${fmtDur(tl.t0)} – ${fmtDur(tl.t1)} (${fmtDur(span)} wide)`;
  $('state').textContent = JSON.stringify({
    page: 'timeline', loaded: !!d, threads: tl.rows.filter((r) => r.kind === 'thread').map((r) => meta.threads[r.th].group || meta.threads[r.th].name || String(meta.threads[r.th].tid)),
    drawn_ms: tl.firstDrawMs, spans: tl.drawn, names: [...tl.drawnNames].sort(), t0: tl.t0, t1: tl.t1,
    states: tl.stateSpans, cpus: tl.rows.filter((r) => r.kind === 'cpu').length,
  });
}

function niceStep(x) {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(x, 1))));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function zoom(factor, atX) {
  const at = nsOf(atX);
  const span = Math.max(1000, (tl.t1 - tl.t0) * factor);
  const f = (at - tl.t0) / (tl.t1 - tl.t0);
  tl.t0 = at - f * span; tl.t1 = tl.t0 + span;
  viewChanged();
}
function pan(dxPixels) {
  const d = dxPixels / plotW() * (tl.t1 - tl.t0);
  tl.t0 += d; tl.t1 += d;
  viewChanged();
}
function fit() { tl.t0 = 0; tl.t1 = Math.max(1000, meta.duration_ns * 1.01); viewChanged(); }

function hit(x, y) {
  const d = tl.data; if (!d) return null;
  for (const r of tl.rows) {
    if (y < r.y || y >= r.y + r.h) continue;
    if (r.kind !== 'thread' && r.kind !== 'task') return null;
    let lane, spans, top, h;
    if (r.kind === 'thread') {
      lane = Math.floor((y - r.y - 2) / LANE_H);
      spans = (d.threads[r.th] || [])[lane]; top = r.y + 2 + lane * LANE_H; h = LANE_H;
    } else { lane = -1; spans = d.tasks[r.lane]; top = r.y; h = TASK_H; }
    if (!spans) return null;
    const ns = nsOf(x), tol = 3 * (tl.t1 - tl.t0) / plotW();
    for (const sp of spans) if (sp[0] - tol <= ns && ns <= sp[1] + tol) {
      return { sp, th: r.kind === 'thread' ? r.th : r.lane, lane, y: top, h, b: sp[0], e: sp[1] };
    }
  }
  return null;
}

function showDetails(text) { $('details').textContent = text; }

async function selectAt(x, y) {
  const h = hit(x, y);
  tl.selected = h; draw();
  if (!h) { showDetails(''); return; }
  const [b, e, name, kind, n] = h.sp;
  if (n > 1) { showDetails(`${n} events merged at this zoom (${fmtDur(b)} – ${fmtDur(e)}): zoom in to see them`); return; }
  try {
    const s = await getJSON(`/api/span?th=${h.th}&lane=${h.lane}&b=${b}`);
    let t = `${s.kind}: ${s.name}\nstart ${fmtDur(s.begin_ns)}  duration ${fmtDur(s.duration_ns)}`;
    if (s.tid) t += `  thread ${s.tid}`;
    if (s.task) t += `\ntask: ${s.task}`;
    if (s.frames) t += '\nstack:\n' + (s.frames.length ? s.frames.map((f) => `  ${f.function} ${f.file ? f.file + ':' + f.line : f.module}`).join('\n') : '  (none recorded)');
    showDetails(t);
  } catch (err) { showDetails('error: ' + err.message); }
}

function initTimeline() {
  const c = $('tl');
  let drag = null;
  c.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    if (ev.shiftKey) pan(ev.deltaY); else zoom(Math.pow(1.0015, ev.deltaY), ev.offsetX);
  }, { passive: false });
  c.addEventListener('mousedown', (ev) => {
    drag = { x: ev.offsetX, y: ev.offsetY, moved: false, range: ev.shiftKey && ev.offsetX > GUTTER };
    if (drag.range) tl.range = { a: nsOf(ev.offsetX), b: nsOf(ev.offsetX) };
    c.style.cursor = drag.range ? 'col-resize' : 'grabbing';
  });
  window.addEventListener('mousemove', (ev) => {
    if (!drag) return;
    if (drag.range) { // shift-drag: a time range for the CPU page
      const x = ev.clientX - c.getBoundingClientRect().left;
      tl.range.b = nsOf(Math.max(GUTTER, x)); draw(); return;
    }
    const dx = ev.movementX;
    if (Math.abs(ev.offsetX - drag.x) > 2) drag.moved = true;
    if (dx) pan(-dx);
  });
  window.addEventListener('mouseup', (ev) => {
    if (drag && drag.range) {
      const a = Math.max(0, Math.round(Math.min(tl.range.a, tl.range.b))), b = Math.round(Math.max(tl.range.a, tl.range.b));
      tl.range = null; drag = null; c.style.cursor = 'grab';
      if (b > a) location.hash = `#cpu@${a},${b}`; else draw();
      return;
    }
    if (drag && !drag.moved && ev.target === c) selectAt(ev.offsetX, ev.offsetY);
    drag = null; c.style.cursor = 'grab';
  });
  window.addEventListener('keydown', (ev) => {
    if (location.hash.indexOf('#timeline') !== 0 || ev.target.tagName === 'INPUT') return;
    const mid = GUTTER + plotW() / 2;
    if (ev.key === 'w') zoom(0.8, mid); else if (ev.key === 's') zoom(1.25, mid);
    else if (ev.key === 'a') pan(-plotW() / 8); else if (ev.key === 'd') pan(plotW() / 8);
    else if (ev.key === '0') fit();
  });
  window.addEventListener('resize', () => { if (meta) viewChanged(); });
  $('reset').onclick = fit;
  $('search').addEventListener('keydown', async (ev) => {
    if (ev.key !== 'Enter') return;
    const q = ev.target.value.trim();
    if (!q) { tl.matchNames = null; $('hits').innerHTML = ''; draw(); return; }
    const r = await getJSON('/api/search?q=' + encodeURIComponent(q));
    tl.matchNames = new Set(r.hits.map((h) => h[4]));
    $('hits').innerHTML = `${r.total} matches ` + r.hits.slice(0, 8).map((h, i) =>
      `<a href="#" data-i="${i}">${esc(str(h[4]))}@${fmtDur(h[2])}</a>`).join(' ');
    $('hits').querySelectorAll('a').forEach((a) => a.onclick = (e) => {
      e.preventDefault();
      const h = r.hits[a.dataset.i], pad = Math.max(1000, (h[3] - h[2]) * 0.5);
      tl.t0 = h[2] - pad; tl.t1 = h[3] + pad; viewChanged();
    });
    draw();
  });
}

// ---------------------------------------------------------------- reports
// The vocabulary from /api/meta: classes, colours, the menu.
function useVocabulary(m) {
  KIND = m.span_kinds;
  m.categories.forEach((c) => { STATE_COLOR[c.name] = c.colour; });
  CLASSES = ['exec', ...m.categories.map((c) => c.name), 'sched', 'other'];
  const css = m.categories.map((c) => { KIND_COLOR[c.name] = c.colour; return `.c-${c.name} { background: ${c.colour}; }`; });
  const style = document.createElement('style');
  style.textContent = css.join('\n');
  document.head.appendChild(style);
  m.analyses.forEach((a) => { analysisByName[a.name] = a; });
  $('nav').insertAdjacentHTML('beforeend', m.analyses.map((a) => `<a href="#${a.name}">${esc(a.nav)}</a>`).join('\n'));
}
function breakdownBar(o, total) {
  total = total || CLASSES.reduce((a, c) => a + (o[c + '_ns'] || 0), 0) || 1;
  return '<span class="bar">' + CLASSES.map((c) =>
    `<span class="c-${c}" title="${c} ${fmtDur(o[c + '_ns'] || 0)}" style="width:${(100 * (o[c + '_ns'] || 0) / total).toFixed(1)}%"></span>`).join('') + '</span>';
}
const legend = () => '<div class="legend">' + CLASSES.map((c) => `<span class="c-${c}"></span>${c}`).join('') + '</div>';
const pct = (part, total) => total > 0 ? ` <span class="muted">${(100 * part / total).toFixed(0)}%</span>` : '';

function droppedNote(doc) {
  const t = doc.trace;
  let s = `<p class="muted">${esc(t.file)}: ${t.events} events, ${fmtDur(t.duration_ns)}, ${t.threads} threads</p>`;
  if (t.flight_partial && t.flight_partial.length) s += '<p><b>The flight recorder held some threads only for the end of the window</b> (their rings wrapped): ' + t.flight_partial.map((d) => `thread ${d.tid} ${esc(d.name)} from ${fmtDur(d.from_ns)}`).join(', ') + '.</p>';
  if (t.lost) s += `<p><b>${t.lost} events were dropped</b>: ` + t.dropped.map((d) => `thread ${d.tid} ${esc(d.name)}: ${d.count}`).join(', ') + ' — figures for those threads are lower bounds.</p>';
  return s;
}

function sortable(table) {
  table.querySelectorAll('th').forEach((th, col) => th.onclick = () => {
    const body = table.tBodies[0];
    const groups = [];
    [...body.rows].forEach((r) => { if (!r.classList.contains('sub') || !groups.length) groups.push([r]); else groups[groups.length - 1].push(r); });
    const key = (g) => { const v = g[0].cells[col].dataset.v; return v != null ? Number(v) : g[0].cells[col].textContent; };
    const dir = th.dataset.dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
    groups.sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0; return dir === 'asc' ? c : -c; });
    groups.forEach((g) => g.forEach((r) => body.appendChild(r)));
  });
}

function timeCells(o) {
  const total = o.total_ns;
  return `<td data-v="${total}">${fmtDur(total)}</td>` + CLASSES.map((c) =>
    `<td data-v="${o[c + '_ns']}">${fmtDur(o[c + '_ns'])}${pct(o[c + '_ns'], total)}</td>`).join('') + `<td>${breakdownBar(o, total)}</td>`;
}

function renderThreads(doc) {
  const cols = ['exec', ...meta.categories.map((c) => c.title), 'sched wait', 'blocked (other)'].map((t) => `<th>${esc(t)}</th>`).join('');
  let h = `<h2>${esc(analysisByName[doc.report].title)}</h2>${droppedNote(doc)}${legend()}<table id="threads-table"><thead><tr><th class="l">start routine / thread</th><th>count</th><th>total</th>${cols}<th></th><th>dropped</th></tr></thead><tbody>`;
  doc.groups.forEach((g) => {
    h += `<tr class="group"><td class="l">${esc(g.routine)}</td><td data-v="${g.count}">${g.count}</td>${timeCells(g)}<td>${g.lost}</td></tr>`;
    g.threads.forEach((t) => { h += `<tr class="sub"><td class="l">${t.tid} ${esc(t.name)}</td><td></td>${timeCells(t)}<td>${t.lost}</td></tr>`; });
  });
  return h + '</tbody></table>';
}

function frameText(f) { return `${esc(f.function)} <span class="muted">${esc(f.file ? f.file + ':' + f.line : f.module)}</span>`; }

function flame(stacks) {
  // an icicle of delay: root (outermost frame) on top
  const root = { name: 'all', v: 0, kids: new Map() };
  stacks.forEach((s) => {
    let n = root; n.v += s.total_ns;
    const frames = s.frames.length ? [...s.frames].reverse() : [{ function: '(no stack)' }];
    frames.forEach((f) => {
      const k = f.function;
      if (!n.kids.has(k)) n.kids.set(k, { name: k, v: 0, kids: new Map() });
      n = n.kids.get(k); n.v += s.total_ns;
    });
  });
  let out = '', depth = 0;
  const walk = (n, x, w, d) => {
    depth = Math.max(depth, d);
    if (w < 0.05) return;
    out += `<div style="left:${x}%;width:${w}%;top:${d * 18}px" title="${esc(n.name)} ${fmtDur(n.v)}">${esc(n.name)} ${fmtDur(n.v)}</div>`;
    let cx = x;
    [...n.kids.values()].sort((a, b) => b.v - a.v).forEach((k) => { const kw = w * k.v / (n.v || 1); walk(k, cx, kw, d + 1); cx += kw; });
  };
  walk(root, 0, 100, 0);
  return `<div class="flame" style="height:${(depth + 1) * 18 + 4}px">${out}</div>`;
}

function renderProfile(doc) {
  let h = `<h2>${esc(analysisByName[doc.report].title)}</h2>${droppedNote(doc)}<p>${doc.count} events, total delay ${fmtDur(doc.total_ns)} &middot; <a href="/api/pprof?type=${doc.report}">download pprof</a> (go tool pprof)</p>`;
  if (!doc.stacks.length) return h + '<p class="muted">nothing recorded</p>';
  h += '<h2>Flame graph of delay</h2>' + flame(doc.stacks);
  h += '<table><thead><tr><th>total delay</th><th>count</th><th>mean</th><th>max</th><th class="l">stack (innermost first)</th></tr></thead><tbody>';
  doc.stacks.forEach((s) => {
    h += `<tr><td data-v="${s.total_ns}">${fmtDur(s.total_ns)}${pct(s.total_ns, doc.total_ns)}</td><td data-v="${s.count}">${s.count}</td><td data-v="${s.mean_ns}">${fmtDur(s.mean_ns)}</td><td data-v="${s.max_ns}">${fmtDur(s.max_ns)}</td><td class="frames">${s.frames.map(frameText).join('<br>') || '(no stack)'}</td></tr>`;
  });
  return h + '</tbody></table>';
}

// The CPU page: samples by stack (flame graph of CPU time) and the
// functions' flat and cumulative time (go tool pprof -top), for the whole
// trace or a range [S, E) ns: #cpu@S,E (shift-drag on the timeline).
function renderCpu(doc) {
  const r = doc.range;
  let h = `<h2>${esc(analysisByName[doc.report].title)}</h2>${droppedNote(doc)}`;
  h += `<p><label>time range (ns since the trace's start) <input id="cpu-range" size="30" placeholder="START:END" value="${r ? r.begin_ns + ':' + r.end_ns : ''}"></label> ` +
    `<button id="cpu-apply">Apply</button> <a href="#cpu">whole trace</a> ` +
    `<span class="muted">or shift-drag on the timeline</span></p>`;
  h += `<p>${doc.samples} samples at ${doc.cpu_hz} Hz: ${fmtDur(doc.cpu_ns)} of CPU` +
    (r ? ` in ${fmtDur(r.begin_ns)} – ${fmtDur(r.end_ns)} (<a href="#timeline@${r.begin_ns},${r.end_ns}">view</a>)` : ' in the whole trace') +
    (r ? '' : ` &middot; <a href="/api/pprof?type=cpu">download pprof</a> (go tool pprof)`) + '</p>';
  if (!doc.samples) return h + `<p class="muted">no CPU samples${doc.cpu_hz ? ' here' : ' (captured without CPU sampling)'}</p>`;
  h += '<h2>Flame graph of CPU time</h2>' + flame(doc.stacks);
  h += '<table><thead><tr><th>flat</th><th>flat%</th><th>sum%</th><th>cum</th><th>cum%</th><th class="l">function</th></tr></thead><tbody>';
  let sum = 0;
  const p = (x) => (100 * x / (doc.cpu_ns || 1)).toFixed(1) + '%';
  doc.functions.forEach((f) => {
    sum += f.flat_ns;
    h += `<tr><td data-v="${f.flat_ns}">${fmtDur(f.flat_ns)}</td><td data-v="${f.flat_ns}">${p(f.flat_ns)}</td><td>${p(sum)}</td><td data-v="${f.cum_ns}">${fmtDur(f.cum_ns)}</td><td data-v="${f.cum_ns}">${p(f.cum_ns)}</td><td class="l">${esc(f.function)} <span class="muted">${esc(f.file)}</span></td></tr>`;
  });
  return h + '</tbody></table>';
}

function bindCpu() {
  const apply = () => {
    const m = $('cpu-range').value.trim().match(/^(\d+)\s*:\s*(\d+)$/);
    location.hash = m && +m[2] > +m[1] ? `#cpu@${m[1]},${m[2]}` : '#cpu';
  };
  $('cpu-apply').onclick = apply;
  $('cpu-range').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') apply(); });
}

// Histograms share one axis per table: buckets are 5 per decade, so bucket
// i starts at 10^(i/5) ns; range = [first, last] bucket index of the table.
const bucketIndex = (lo) => (lo <= 0 ? 0 : Math.round(5 * Math.log10(lo)));
function histRange(list) {
  let a = Infinity, b = -Infinity;
  list.forEach((e) => e.histogram.forEach((x) => { a = Math.min(a, bucketIndex(x.lo_ns)); b = Math.max(b, bucketIndex(x.lo_ns)); }));
  return a <= b ? [a, b] : [0, 0];
}
function histogram(hist, name, range) {
  const most = Math.max(1, ...hist.map((b) => b.count));
  const byIndex = new Map(hist.map((b) => [bucketIndex(b.lo_ns), b]));
  let h = '<span class="hist">';
  for (let i = range[0]; i <= range[1]; i++) {
    const b = byIndex.get(i);
    if (!b || !b.count) { h += '<a class="empty"></a>'; continue; }
    const title = `[${fmtDur(b.lo_ns)}, ${fmtDur(b.hi_ns)}): ${b.count}`;
    const href = name != null ? ` href="#task/${encodeURIComponent(name)}/${b.lo_ns}/${b.hi_ns}"` : '';
    h += `<a${href} title="${title}" style="height:${Math.max(2, 36 * b.count / most)}px"></a>`;
  }
  return h + '</span>';
}

function renderNamed(doc) {
  const regions = doc.report === 'regions';
  const list = regions ? doc.regions : doc.tasks;
  let h = `<h2>${esc(analysisByName[doc.report].title)}</h2>${droppedNote(doc)}`;
  if (doc.incomplete) h += `<p class="muted">${doc.incomplete} ${doc.report} not complete within the capture (not counted)</p>`;
  const range = histRange(list);
  const axis = `${fmtDur(Math.pow(10, range[0] / 5))} … ${fmtDur(Math.pow(10, (range[1] + 1) / 5))}`;
  h += legend() + `<table><thead><tr><th class="l">${regions ? 'region' : 'task'}</th>${regions ? '<th class="l">task</th>' : ''}<th>count</th><th>mean</th><th>max</th><th>${regions ? 'total' : "threads' time"}</th>` +
    CLASSES.map((c) => `<th>${c}</th>`).join('') + `<th>breakdown</th><th class="l">duration histogram: ${axis}, log scale${regions ? '' : ' (click a bar)'}</th></tr></thead><tbody>`;
  list.forEach((e) => {
    const b = e.breakdown; // for tasks: the threads' time for them, which may exceed their duration
    const link = regions ? esc(e.name) : `<a href="#task/${encodeURIComponent(e.name)}">${esc(e.name)}</a>`;
    h += `<tr><td class="l">${link}</td>${regions ? `<td class="l">${esc(e.task)}</td>` : ''}<td data-v="${e.count}">${e.count}</td><td data-v="${e.mean_ns}">${fmtDur(e.mean_ns)}</td><td data-v="${e.max_ns}">${fmtDur(e.max_ns)}</td>${timeCells(b)}<td class="l">${histogram(e.histogram, regions ? null : e.name, range)}</td></tr>`;
  });
  return h + '</tbody></table>';
}


function renderTask(doc, min, max) {
  let h = `<h2>Tasks named “${esc(doc.name)}”${min != null ? ` lasting ${fmtDur(min)} – ${fmtDur(max)}` : ''}</h2>${droppedNote(doc)}<p class="muted">first ${doc.tasks.length} shown</p>`;
  doc.tasks.forEach((k) => {
    const b = k.breakdown;
    h += `<h2>task ${k.id}: ${fmtDur(k.duration_ns)} from ${fmtDur(k.begin_ns)} ${breakdownBar(b, b.total_ns)}</h2>` +
      `<p class="muted">` + CLASSES.map((c) => `${c} ${fmtDur(b[c + '_ns'])}`).join(', ') + '</p>';
    h += '<table class="events"><thead><tr><th>when</th><th>thread</th><th class="l">what</th><th class="l">name</th><th>duration</th><th class="l">message / stack</th></tr></thead><tbody>';
    k.events.forEach((e) => {
      const extra = e.message ? esc(e.message) : e.frames ? e.frames.slice(0, 3).map(frameText).join(' ← ') : '';
      h += `<tr><td>${fmtDur(e.ts_ns)}</td><td>${e.tid}</td><td class="l">${e.type}</td><td class="l">${esc(e.name)}</td><td>${e.duration_ns != null ? fmtDur(e.duration_ns) : ''}</td><td class="l">${extra}</td></tr>`;
    });
    h += '</tbody></table>';
  });
  return h;
}

async function showReport(name, arg) {
  const page = $('page-report');
  page.innerHTML = '<p class="muted">loading…</p>';
  try {
    let html, state;
    if (name === 'task') {
      const [tname, min, max] = arg;
      let url = '/api/task?name=' + encodeURIComponent(tname);
      if (min != null) url += `&min=${min}&max=${max}`;
      const doc = await getJSON(url);
      html = renderTask(doc, min, max);
      state = { page: 'task', name: tname, tasks: doc.tasks.length, events: doc.tasks.reduce((a, k) => a + k.events.length, 0) };
    } else {
      const a = analysisByName[name];
      if (!a) throw new Error('no analysis named ' + name);
      const range = arg && arg.length === 2 ? `&range=${arg[0]}:${arg[1]}` : '';
      const doc = await getJSON('/api/report?name=' + encodeURIComponent(name) + range);
      html = { threads: renderThreads, named: renderNamed, profile: renderProfile, cpu: renderCpu }[a.page](doc);
      const entries = a.page === 'threads' ? doc.groups.map((g) => g.routine) : a.page === 'named' ? doc[name].map((e) => e.name)
        : a.page === 'cpu' ? doc.functions.map((f) => f.function) : doc.stacks.map((s) => (s.frames[0] || {}).function || '');
      state = { page: name, entries };
      if (a.page === 'cpu') Object.assign(state, { samples: doc.samples, range: doc.range, flame: doc.stacks.length > 0 });
    }
    page.innerHTML = html;
    page.querySelectorAll('table').forEach(sortable);
    if ($('cpu-range')) bindCpu();
    if (state.flame) state.flame = page.querySelectorAll('.flame div').length;
    $('state').textContent = JSON.stringify(state);
  } catch (e) {
    page.innerHTML = `<p>error: ${esc(e.message)}</p>`;
  }
}

// ---------------------------------------------------------------- routing
function route() {
  const hash = location.hash || '#timeline';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', hash.startsWith(a.getAttribute('href'))));
  const isTl = hash.startsWith('#timeline');
  $('page-timeline').hidden = !isTl;
  $('page-report').hidden = isTl;
  if (isTl) {
    const m = hash.match(/@(-?\d+),(-?\d+)/);
    if (m && +m[2] > +m[1]) { tl.t0 = +m[1]; tl.t1 = +m[2]; viewChanged(); } else if (!tl.data) fit(); else draw();
    return;
  }
  const parts = hash.slice(1).split('/').map(decodeURIComponent);
  const ranged = parts[0].match(/^(\w+)@(\d+),(\d+)$/); // #cpu@S,E
  if (ranged) showReport(ranged[1], [+ranged[2], +ranged[3]]);
  else if (parts[0] === 'task') showReport('task', [parts[1], parts[2] != null ? +parts[2] : null, parts[3] != null ? +parts[3] : null]);
  else showReport(parts[0]);
}

async function main() {
  $('file').textContent = 'indexing the trace…'; // the server answers /api/meta once its index is built
  meta = await getJSON('/api/meta');
  useVocabulary(meta);
  Object.entries(meta.strings).forEach(([i, s]) => { strings[i] = s; }); // only the defined ids
  $('file').textContent = `${meta.file} — ${meta.cmdline} (pid ${meta.pid}), ${meta.events} events, ${fmtDur(meta.duration_ns)}`;
  const warn = [];
  if (meta.lost) warn.push(`${meta.lost} events were dropped by the tracer (rows marked in red)`);
  if (meta.warning) warn.push('trace incomplete: ' + meta.warning + ' — showing what was complete');
  if (warn.length) { $('warn').hidden = false; $('warn').textContent = warn.join(' · '); }
  if (meta.states) // the thread rows' shading
    $('range').insertAdjacentHTML('beforebegin', '<span class="legend">' + meta.state_names.map((n) =>
      `<span style="background:${STATE_COLOR[n] || '#ccc'};opacity:.5"></span>${esc(n)}`).join('') + ' <span style="background:#1f3b73;width:1px"></span>CPU sample</span>');
  layoutRows();
  initTimeline();
  window.addEventListener('hashchange', route);
  route();
}
main().catch((e) => { document.body.insertAdjacentHTML('beforeend', `<p>error: ${esc(e.message)}</p>`); });
