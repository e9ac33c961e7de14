// The status page: polls the API once a second and draws what it read. Every figure comes from
// a documented route (/status, /processes, /metrics/json, /audit, /v1/config), so the page
// shows nothing a script could not get too.

import { api, ApiFailure } from './api.js';
import { bars, RateChart } from './charts.js';
import { bytes, clock, duration, isoTime, number, percent, rate, yaml } from './format.js';
import { setupPlan } from './plan.js';

const POLL_MS = 1000;
/** The chart's and the histograms' window. */
const WINDOW_S = 300;
/** How long a replaced process keeps its note. */
const REPLACED_NOTE_S = 300;

const ROLES = { kresd: 'worker', canary: 'canary', gc: 'cache GC', 'policy-loader': 'policy loader' };
const LATENCY = [
  ['answer.1ms', '≤ 1 ms'],
  ['answer.10ms', '1–10 ms'],
  ['answer.50ms', '10–50 ms'],
  ['answer.100ms', '50–100 ms'],
  ['answer.250ms', '100–250 ms'],
  ['answer.500ms', '250–500 ms'],
  ['answer.1000ms', '0.5–1 s'],
  ['answer.1500ms', '1–1.5 s'],
  ['answer.slow', '> 1.5 s'],
];
const RCODES = [
  ['answer.noerror', 'NOERROR'],
  ['answer.nodata', 'NODATA'],
  ['answer.nxdomain', 'NXDOMAIN'],
  ['answer.servfail', 'SERVFAIL'],
];

const $ = (id) => document.getElementById(id);

const page = {
  status: null,
  configYaml: null,
  configGeneration: null,
  /** Metric samples of the window: {t, total: list, workers: {name: request.total}}. */
  samples: [],
  /** name → pid seen last, and the replaced ones: name → {pid, at}. */
  pids: new Map(),
  replaced: new Map(),
};

const chart = new RateChart($('rate-chart'));
const plan = setupPlan({ context: () => page, onApplied: () => tick() });

function text(id, value) {
  const node = $(id);
  if (node.textContent !== value) node.textContent = value;
}

function cell(content, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  return td;
}

function showStatus(status) {
  page.status = status;
  const ready = $('ready');
  ready.textContent = status.ready ? 'Ready' : `Not ready: ${status.reason ?? 'no reason given'}`;
  ready.className = `badge ${status.ready ? 'ok' : 'bad'}`;
  text('generation', String(status.generation));
  text('etag', status.etag);
  text('version', status.version);
  text('kresd-version', status.kresd_version ?? 'no worker answered');
  text('uptime', status.uptime == null ? '—' : `${duration(status.uptime)} (since ${clock(status.started)})`);
  const you = status.you;
  text('you', you.token ? `token “${you.token}” (${you.scope})` : you.who);
  const cache = status.cache;
  if (cache && Number.isFinite(cache.usage_percent)) {
    $('cache-meter').value = cache.usage_percent;
    const used = (cache.usage_percent / 100) * cache.size;
    text('cache-text', `${cache.usage_percent.toFixed(2)} % used: about ${bytes(used)} of ${bytes(cache.size)}`);
  } else {
    text('cache-text', 'no worker answered');
  }
  plan.refresh();
}

/** The rows of the processes table: the manager, then what the task reports. */
function showProcesses(processes, status, shares) {
  const now = Date.now() / 1000;
  const rows = [
    { role: 'manager', name: 'manager', pid: status.manager.pid, state: 'running', started: status.manager.started, restarts: null },
    ...processes.map((p) => ({ ...p, role: ROLES[p.type] ?? p.type })),
  ];
  const tbody = $('processes').tBodies[0];
  tbody.replaceChildren(
    ...rows.map((p) => {
      const seen = page.pids.get(p.name);
      if (seen != null && p.pid != null && seen !== p.pid) page.replaced.set(p.name, { pid: seen, at: now });
      if (p.pid != null) page.pids.set(p.name, p.pid);
      const replaced = page.replaced.get(p.name);
      const tr = document.createElement('tr');
      tr.dataset.name = p.name;
      tr.dataset.pid = p.pid ?? '';
      tr.dataset.state = p.state;
      const state = document.createElement('span');
      // The canary runs only while a new config is tried: stopped is its normal state.
      const idle = p.type === 'canary' && p.state === 'stopped' && !p.failed;
      state.className = p.state === 'running' ? 'ok' : idle ? 'note' : 'bad';
      state.textContent = p.failed ? `${p.state} (given up)` : idle ? 'stopped (runs to try a new config)' : p.state;
      const stateCell = cell(state);
      if (replaced && now - replaced.at < REPLACED_NOTE_S) {
        const note = document.createElement('span');
        note.className = 'note replaced';
        note.textContent = ` replaced pid ${replaced.pid} at ${clock(replaced.at)}`;
        stateCell.append(note);
      }
      const share = shares[p.name];
      tr.append(
        cell(p.role),
        cell(p.name),
        cell(p.pid == null ? '—' : String(p.pid), 'num'),
        stateCell,
        cell(p.started == null ? '—' : clock(p.started)),
        cell(p.restarts == null ? '—' : String(p.restarts), 'num'),
        cell(share == null ? '' : share, 'num'),
      );
      return tr;
    }),
  );
}

/** Adds a metrics sample; returns the chart series and each worker's share of the window. */
function addSample(metrics) {
  const t = Date.now() / 1000;
  const workers = {};
  for (const [name, figures] of Object.entries(metrics.workers)) workers[name] = figures.list['request.total'] ?? 0;
  page.samples.push({ t, total: metrics.total.list, workers });
  while (page.samples.length > 2 && page.samples[0].t < t - WINDOW_S - 2) page.samples.shift();

  const names = [...new Set(page.samples.flatMap((s) => Object.keys(s.workers)))].sort();
  const times = [];
  const series = { total: [] };
  for (const name of names) series[name] = [];
  for (let i = 1; i < page.samples.length; i += 1) {
    const [before, after] = [page.samples[i - 1], page.samples[i]];
    const dt = after.t - before.t;
    if (dt <= 0) continue;
    times.push(after.t);
    series.total.push(Math.max(0, ((after.total['request.total'] ?? 0) - (before.total['request.total'] ?? 0)) / dt));
    for (const name of names) {
      const [a, b] = [before.workers[name], after.workers[name]];
      series[name].push(a == null || b == null ? null : Math.max(0, (b - a) / dt));
    }
  }
  chart.update(times, series);
  const latest = (values) => (values.length ? values[values.length - 1] : 0);
  const now = $('rate-now');
  now.dataset.total = String(latest(series.total) ?? 0);
  now.dataset.max = String(Math.max(0, ...series.total));
  now.textContent =
    `Now: ${rate(latest(series.total))} q/s in total` +
    (names.length ? `; ${names.map((n) => `${n} ${rate(latest(series[n]) ?? NaN)}`).join(', ')}` : '') +
    `. Highest in the window: ${rate(Math.max(0, ...series.total))} q/s.`;

  // Each worker's share of the window's queries.
  const first = page.samples[0];
  const last = page.samples[page.samples.length - 1];
  const deltas = Object.fromEntries(names.map((n) => [n, (last.workers[n] ?? 0) - (first.workers[n] ?? 0)]));
  const sum = Object.values(deltas).reduce((a, b) => a + b, 0);
  const shares = {};
  for (const name of names) shares[name] = sum > 0 ? percent(deltas[name], sum) : '—';
  return shares;
}

/** The window's counts of `keys` (since the start when the window saw none). */
function windowCounts(keys) {
  const first = page.samples[0].total;
  const last = page.samples[page.samples.length - 1].total;
  const delta = keys.map((k) => Math.max(0, (last[k] ?? 0) - (first[k] ?? 0)));
  const inWindow = delta.some((d) => d > 0);
  return { counts: inWindow ? delta : keys.map((k) => last[k] ?? 0), inWindow, last, first };
}

function showAnswers() {
  const latency = windowCounts(LATENCY.map(([k]) => k));
  bars($('latency').tBodies[0], LATENCY.map(([, label], i) => [label, latency.counts[i]]));
  const scope = (inWindow) => (inWindow ? `over the last ${WINDOW_S / 60} minutes` : 'since the workers started (none lately)');
  const answered = latency.counts.reduce((a, b) => a + b, 0);
  text('latency-note', `${number(answered)} answers ${scope(latency.inWindow)}.`);

  const keys = [...RCODES.map(([k]) => k), 'answer.total'];
  const rcodes = windowCounts(keys);
  const total = rcodes.counts.pop();
  const known = rcodes.counts.reduce((a, b) => a + b, 0);
  bars($('rcodes').tBodies[0], [
    ...RCODES.map(([, label], i) => [label, rcodes.counts[i]]),
    ['other', Math.max(0, total - known)],
  ]);
  text(
    'rcodes-note',
    `${number(total)} answers ${scope(rcodes.inWindow)}. NODATA: NOERROR without an answer; other: REFUSED, FORMERR, NOTIMP, …`,
  );
}

function showChanges(audit) {
  const tbody = $('changes').tBodies[0];
  const entries = audit.entries.slice(0, 20);
  tbody.replaceChildren(
    ...entries.map((entry) => {
      const tr = document.createElement('tr');
      const when = document.createElement('time');
      when.dateTime = isoTime(entry.at);
      when.textContent = clock(entry.at);
      const request = document.createElement('code');
      request.textContent = `${entry.method} ${entry.target}`;
      const planCell = cell('');
      for (const item of entry.plan) {
        const line = document.createElement('div');
        line.dataset.pointer = item.pointer;
        const pointer = document.createElement('code');
        pointer.textContent = item.pointer;
        const impact = document.createElement('span');
        impact.className = `impact ${item.impact}`;
        impact.textContent = item.impact;
        line.append(pointer, ' ', impact);
        planCell.append(line);
      }
      if (entry.plan.length === 0 && entry.operations.length) planCell.textContent = entry.operations.join(', ');
      const outcome = document.createElement('span');
      outcome.className = entry.status < 300 ? 'ok' : 'bad';
      outcome.textContent = `${entry.status} ${entry.outcome}`;
      tr.append(cell(when), cell(entry.token ? `token “${entry.token}”` : entry.who), cell(request), planCell, cell(outcome));
      return tr;
    }),
  );
  text(
    'changes-note',
    audit.entries.length
      ? `The last ${entries.length} of ${audit.entries.length} kept (the audit log in the service's log has all).`
      : 'No change since the manager started.',
  );
}

async function showConfig(status) {
  if (page.configGeneration === status.generation) return;
  const { json } = await api('/v1/config');
  page.configYaml = yaml(json);
  page.configGeneration = status.generation;
  text('config', page.configYaml);
}

function problem(message) {
  const node = $('problem');
  node.hidden = !message;
  if (node.textContent !== (message ?? '')) node.textContent = message ?? '';
}

let timer = null;
async function tick() {
  clearTimeout(timer);
  try {
    const [status, processes, metrics, audit] = await Promise.all(
      ['/status', '/processes', '/metrics/json', '/audit'].map((path) => api(path).then((r) => r.json)),
    );
    showStatus(status);
    const shares = addSample(metrics);
    showProcesses(processes, status, shares);
    showAnswers();
    showChanges(audit);
    await showConfig(status);
    problem(null);
    text('updated', `Updated ${clock(Date.now() / 1000)}, every ${POLL_MS / 1000} s.`);
  } catch (failure) {
    if (!(failure instanceof ApiFailure)) throw failure;
    const hint = failure.status === 401 ? ' (the token was refused: reload the page to log in again)' : '';
    problem(`The API did not answer: ${failure.message}${hint}`);
  } finally {
    timer = setTimeout(tick, POLL_MS);
  }
}

tick();
