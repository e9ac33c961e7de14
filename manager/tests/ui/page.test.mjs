// The status page in a real browser (Debian's chromium, through playwright-core) against the
// real service that manager/tests/ui_browser.rs started: kres-manager under supervisord with
// real kresd workers, the API on a TCP listener with a full token and a read-only one, which
// the browser sends as the password of Basic credentials.
//
// Every wait is a poll with a deadline (Playwright's waitForFunction, or `until`), never a
// fixed sleep. Each case checks at its end that the page raised no error, logged no console
// error and violated no Content-Security-Policy directive.

import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';

import { api, dnsLoad, expectConsoleError, launch, open, service, statusPage } from './browser.mjs';

let browser;
const contexts = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A context of `token` (the full one unless told), closed and checked after the case. */
async function loggedIn(token = service.fullToken, options = {}) {
  const context = await open(browser, token, options);
  contexts.push(context);
  return context;
}

afterEach(async () => {
  for (const context of contexts.splice(0)) {
    const violations = [];
    for (const page of context.pages()) violations.push(...(await page.evaluate(() => window.__violations)));
    await context.close();
    assert.deepEqual(violations, [], 'Content-Security-Policy violations');
    assert.deepEqual(context.problems, [], 'page errors and console errors');
  }
});

/** The rows of the processes table: name → {pid, state, restarts, note}. */
function processRows(page) {
  return page.$$eval('#processes tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((row) => [
        row.dataset.name,
        {
          pid: row.dataset.pid,
          state: row.dataset.state,
          role: row.cells[0].textContent,
          restarts: row.cells[5].textContent,
          note: row.querySelector('.replaced')?.textContent ?? '',
        },
      ]),
    ),
  );
}

test('the page loads and shows every worker, with the pids the API reports', async () => {
  const context = await loggedIn();
  const { page, response } = await statusPage(context);
  assert.equal(new URL(response.url()).pathname, '/ui', 'a browser at / is sent to /ui');
  const { json: processes } = await api('/processes');
  const workers = processes.filter((p) => p.type === 'kresd');
  assert.equal(workers.length, 2, 'the service runs the two workers of its config');
  const { json: status } = await api('/status');
  await page.waitForFunction(
    (expected) => {
      const rows = [...document.querySelectorAll('#processes tbody tr')];
      return expected.every(([name, pid]) => rows.some((r) => r.dataset.name === name && r.dataset.pid === String(pid ?? '')));
    },
    [...processes.map((p) => [p.name, p.pid]), ['manager', status.manager.pid]],
    { timeout: 10_000 },
  );
  const rows = await processRows(page);
  for (const worker of workers) {
    assert.equal(rows[worker.name].role, 'worker', worker.name);
    assert.equal(rows[worker.name].state, 'running', worker.name);
  }
  assert.equal(Object.values(rows).filter((r) => r.role === 'worker').length, workers.length, 'no other worker shown');
  assert.equal(await page.textContent('#ready'), 'Ready');
  assert.equal(await page.textContent('#generation'), String(status.generation));
  assert.match(await page.textContent('#kresd-version'), /^5\.\d+\.\d+/);
});

test('under dnsperf load the query-rate chart moves', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const chart = (selector) =>
    page.$eval(selector, (node) => ({
      points: Number(node.dataset.points ?? 0),
      latest: Number(node.dataset.latestTotal ?? 0),
      series: node.dataset.series ?? '',
    }));
  // Two samples make a first point; before the load the rate is (about) nothing.
  await page.waitForFunction(() => Number(document.getElementById('rate-chart').dataset.points) >= 2, null, {
    timeout: 10_000,
  });
  const quiet = await chart('#rate-chart');
  assert.ok(quiet.latest < 20, `no load yet: ${quiet.latest} q/s`);
  assert.match(quiet.series, /^total kresd0 kresd1$/, 'a series for the total and one per worker');

  const load = dnsLoad(1000, 30);
  try {
    await page.waitForFunction(
      (before) => {
        const node = document.getElementById('rate-chart');
        return Number(node.dataset.latestTotal) > 300 && Number(node.dataset.points) > before;
      },
      quiet.points,
      { timeout: 15_000 },
    );
  } finally {
    const { output } = await load.stop();
    assert.match(output, /Queries sent:/, `dnsperf ran: ${output}`);
  }
  const loaded = await chart('#rate-chart');
  assert.ok(loaded.latest > 300, `${loaded.latest} q/s under a 1,000 q/s load`);
  // The figure under the chart says the same, and the workers' shares of the window add up.
  const figure = Number(await page.getAttribute('#rate-now', 'data-max'));
  assert.ok(figure > 300, `highest rate shown: ${figure}`);
});

test('a change made through the API appears in the recent changes within 2 s', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const level = (await api('/v1/config/logging/level')).json === 'debug' ? 'info' : 'debug';
  const change = await api('/v1/config/logging/level', { method: 'PUT', body: JSON.stringify(level) });
  assert.equal(change.status, 200, JSON.stringify(change.json));
  const made = Date.now();
  await page.waitForFunction(
    (generation) =>
      [...document.querySelectorAll('#changes tbody tr')].some(
        (row) =>
          row.querySelector('[data-pointer="/logging/level"]') &&
          row.textContent.includes(`applied, generation ${generation}`) &&
          row.textContent.includes('token “ops”'),
      ),
    change.json.generation,
    { timeout: 2_000 },
  );
  assert.ok(Date.now() - made <= 2_000);
  // The generation shown follows too.
  await page.waitForFunction((g) => document.getElementById('generation').textContent === String(g), change.json.generation, {
    timeout: 2_000,
  });
});

test('a killed worker is shown, then its replacement with a new pid', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const worker = (await api('/processes/kresd')).json.find((p) => p.name === 'kresd1');
  await page.waitForFunction((pid) => document.querySelector('#processes tr[data-name="kresd1"]')?.dataset.pid === String(pid), worker.pid, {
    timeout: 10_000,
  });
  process.kill(worker.pid, 'SIGKILL');
  // supervisord starts a new kresd1 at once; the page shows the new pid and the replaced one.
  await page.waitForFunction(
    (old) => {
      const row = document.querySelector('#processes tr[data-name="kresd1"]');
      return row && row.dataset.pid !== '' && row.dataset.pid !== String(old) && row.dataset.state === 'running' &&
        row.querySelector('.replaced')?.textContent.includes(`replaced pid ${old}`);
    },
    worker.pid,
    { timeout: 15_000 },
  );
  const rows = await processRows(page);
  const replacement = (await api('/processes/kresd')).json.find((p) => p.name === 'kresd1');
  assert.equal(rows.kresd1.pid, String(replacement.pid), 'the pid the API reports');
  assert.notEqual(replacement.pid, worker.pid);
  assert.ok(Number(rows.kresd1.restarts) >= worker.restarts + 1, `restarts: ${rows.kresd1.restarts}`);
});

test('a plan preview of an invalid value shows the error at its pointer, and applies nothing', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const before = (await api('/status')).json.generation;
  await page.fill('#pointer', '/workers');
  await page.fill('#value', 'many');
  await page.click('#preview');
  const error = page.locator('#plan-result ul.errors li[data-pointer="/workers"]');
  await error.waitFor({ timeout: 5_000 });
  assert.match(await error.textContent(), /^\/workers: .*expected "auto" or an integer/);
  assert.equal(await page.isDisabled('#apply'), true, 'nothing to apply');
  // A valid value: its plan, by pointer and impact.
  await page.fill('#pointer', '/logging/groups');
  await page.fill('#value', '[cache]');
  await page.click('#preview');
  const planned = page.locator('#plan-result ul.plan li[data-pointer="/logging/groups"]');
  await planned.waitFor({ timeout: 5_000 });
  assert.equal(await planned.getAttribute('data-impact'), 'hot');
  assert.equal((await api('/status')).json.generation, before, 'a preview is a dry run');
  expectConsoleError(context, /status of 422/);
});

test('a whole changed configuration is planned by pointer, from the running one shown as YAML', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const before = (await api('/status')).json.generation;
  await page.check('input[name="mode"][value="document"]');
  assert.equal(await page.isVisible('#document'), true);
  assert.equal(await page.isVisible('#pointer'), false, 'one mode at a time');
  await page.waitForFunction(() => document.getElementById('config').textContent.includes('workers: 2'), null, {
    timeout: 5_000,
  });
  await page.click('#load-running');
  const running = await page.inputValue('#document');
  assert.equal(running, await page.textContent('#config'), 'the running configuration, as shown');
  await page.fill('#document', running.replace(/^workers: 2$/m, 'workers: 3'));
  await page.click('#preview');
  await page.locator('#plan-result ul.plan li').first().waitFor({ timeout: 5_000 });
  // The YAML the page wrote reads back as the same document: only the edited pointer changes.
  const pointers = await page.$$eval('#plan-result ul.plan li', (items) => items.map((li) => li.dataset.pointer));
  assert.deepEqual(pointers, ['/workers']);
  assert.equal((await api('/status')).json.generation, before, 'a preview is a dry run');
});

test('a full token applies behind a confirmation', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const before = (await api('/status')).json.generation;
  await page.fill('#pointer', '/logging/groups');
  await page.fill('#value', '[cache, io]');
  await page.click('#preview');
  await page.locator('#plan-result li[data-pointer="/logging/groups"]').waitFor({ timeout: 5_000 });
  await page.click('#apply');
  await page.locator('#confirm[open]').waitFor({ timeout: 2_000 });
  assert.equal((await api('/status')).json.generation, before, 'nothing before the confirmation');
  await page.click('#confirm-apply');
  await page.locator('#applied').waitFor({ timeout: 10_000 });
  assert.deepEqual((await api('/v1/config/logging/groups')).json, ['cache', 'io']);
  assert.equal((await api('/status')).json.generation, before + 1);
});

test('a read-only token cannot apply: the buttons are disabled and the API refuses', async () => {
  const context = await loggedIn(service.readToken);
  const { page } = await statusPage(context);
  const config = (await api('/v1/config')).json;
  await page.waitForFunction(() => document.getElementById('scope-note').textContent.includes('read-only'), null, {
    timeout: 5_000,
  });
  assert.equal(await page.textContent('#you'), 'token “viewer” (read-only)');
  assert.equal(await page.isDisabled('#preview'), true);
  assert.equal(await page.isDisabled('#apply'), true);
  // Even a request the page's script makes itself is refused by the guard.
  const answer = await page.evaluate(async () => {
    const response = await fetch('/v1/config/workers', { method: 'PUT', body: '3', headers: { 'Content-Type': 'application/json' } });
    return { status: response.status, body: await response.json() };
  });
  assert.equal(answer.status, 403, JSON.stringify(answer));
  assert.match(answer.body.errors[0].message, /read-only/);
  assert.deepEqual((await api('/v1/config')).json, config, 'the configuration is unchanged');
  // The refusal is audited, and the page shows it.
  await page.waitForFunction(
    () => [...document.querySelectorAll('#changes tbody tr')].some((r) => r.textContent.includes('403') && r.textContent.includes('viewer')),
    null,
    { timeout: 3_000 },
  );
  expectConsoleError(context, /status of 403/);
});

test('no request leaves loopback, and the page keeps to its Content-Security-Policy', async (t) => {
  const context = await loggedIn();
  const { page, response } = await statusPage(context);
  // Loaded in a few hundred milliseconds on loopback (the budget), logged in already.
  const load = await page.evaluate(() => {
    const navigation = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/assets/'));
    return { ms: navigation.loadEventEnd - navigation.startTime, files: resources.length };
  });
  t.diagnostic(`the page and ${load.files} files loaded in ${Math.round(load.ms)} ms`);
  assert.ok(load.ms < 1000, `loaded in ${load.ms} ms`);
  // A few updates, the plan form used once: every request the page makes.
  await page.waitForFunction(() => Number(document.getElementById('rate-chart').dataset.points) >= 2, null, {
    timeout: 10_000,
  });
  await page.fill('#pointer', '/logging/level');
  await page.fill('#value', 'notice');
  await page.click('#preview');
  await page.locator('#plan-result li').first().waitFor({ timeout: 5_000 });
  const hosts = new Set(context.requests.map((url) => new URL(url).host));
  assert.ok(context.requests.length > 10, `${context.requests.length} requests`);
  assert.deepEqual([...hosts], [new URL(service.url).host], `requests: ${context.requests.join('\n')}`);
  const policy = response.headers()['content-security-policy'];
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(policy.includes(directive), `${directive} in ${policy}`);
  }
  // An inline script would be refused: the policy is in force.
  const refused = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.__inline = true';
    document.head.append(script);
    return window.__inline === undefined;
  });
  assert.equal(refused, true, 'an inline script ran');
  await page.waitForFunction(() => window.__violations.length > 0, null, { timeout: 2_000 });
  await page.evaluate(() => window.__violations.splice(0));
  expectConsoleError(context, /Content Security Policy/);
});

test('on a phone-sized screen in the dark theme the page fits and is readable', async () => {
  const context = await loggedIn(service.fullToken, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
  const { page } = await statusPage(context);
  await page.waitForFunction(() => Number(document.getElementById('rate-chart').dataset.points) >= 1, null, { timeout: 10_000 });
  const layout = await page.evaluate(() => {
    const luminance = (colour) => {
      const [r, g, b] = colour.match(/\d+/g).map(Number);
      return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    };
    const body = getComputedStyle(document.body);
    const cards = [...document.querySelectorAll('.card')].map((c) => c.getBoundingClientRect());
    const wide = [...document.querySelectorAll('body *')]
      .filter((node) => !node.closest('.scroll') && node.getBoundingClientRect().right > 390.5)
      .map((node) => `${node.tagName.toLowerCase()}#${node.id}.${node.className} ${Math.round(node.getBoundingClientRect().right)}`);
    return {
      wide,
      scrollWidth: document.documentElement.scrollWidth,
      width: window.innerWidth,
      background: luminance(body.backgroundColor),
      text: luminance(body.color),
      widest: Math.max(...cards.map((r) => r.right)),
      oneColumn: new Set(cards.map((r) => Math.round(r.left))).size === 1,
      chart: document.querySelector('#rate-chart canvas')?.getBoundingClientRect().width ?? 0,
    };
  });
  // The phone's width, not innerWidth: a mobile browser widens its viewport to what overflows.
  assert.equal(layout.width, 390, 'the layout viewport is the screen');
  assert.ok(layout.scrollWidth <= 390, `no sideways scrolling: ${layout.scrollWidth}; too wide: ${layout.wide.join(', ')}`);
  assert.ok(layout.widest <= 390, `every card fits: ${layout.widest}`);
  assert.ok(layout.oneColumn, 'one column of cards');
  assert.ok(layout.chart > 200 && layout.chart <= 390, `chart width ${layout.chart}`);
  assert.ok(layout.background < 0.15 && layout.text > 0.7, `dark: background ${layout.background}, text ${layout.text}`);
});

test('the page is usable from the keyboard', async () => {
  const context = await loggedIn();
  const { page } = await statusPage(context);
  const reached = [];
  for (let i = 0; i < 40 && !reached.includes('preview'); i += 1) {
    await page.keyboard.press('Tab');
    reached.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || document.activeElement?.tagName));
  }
  assert.equal(reached[0], 'skip', `the skip link comes first: ${reached}`);
  for (const id of ['pointer', 'value', 'preview']) assert.ok(reached.includes(id), `${id} reached by Tab: ${reached}`);
  // Type a change and preview it with the keyboard alone.
  await page.focus('#pointer');
  await page.keyboard.type('/workers');
  await page.keyboard.press('Tab');
  await page.keyboard.type('many');
  await page.keyboard.press('Enter');
  await page.locator('#plan-result li[data-pointer="/workers"]').waitFor({ timeout: 5_000 });
  expectConsoleError(context, /status of 422/);
  // The focus is visible.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
});
