// What the browser tests (page.test.mjs) and the screenshot (screenshot.mjs) share: the
// service under test (from the environment that manager/tests/ui_browser.rs sets), Debian's
// chromium driven by playwright-core, the API as a client other than the page, and a DNS load.
//
// The browser: /usr/bin/chromium (Playwright never downloads one), headless, each launch with a
// fresh profile (Playwright's own temporary --user-data-dir), and with the switches that keep
// it from talking to anything but the page: no background networking, no component updates,
// no sync, no first-run tasks.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through manager/tests/ui_browser.rs or scripts/screenshot-ui.sh`);
  return value;
}

/** The service under test. */
export const service = {
  /** The management listener, `http://127.0.0.1:PORT`. */
  url: required('KRES_UI_URL'),
  fullToken: required('KRES_UI_TOKEN_FULL'),
  readToken: required('KRES_UI_TOKEN_READ'),
  dnsPort: Number(required('KRES_UI_DNS_PORT')),
};

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run bash scripts/setup-browser.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/**
 * A browser context logged in with `token` (as the password of Basic credentials, as an operator
 * types it at the browser's prompt); `options` go to newContext (viewport, colorScheme).
 * Every request of its pages is recorded in `context.requests`, page errors and console errors
 * in `context.problems`, CSP violations (reported by the page) in the page's window.
 */
export async function open(browser, token, options = {}) {
  const context = await browser.newContext({
    httpCredentials: { username: 'operator', password: token },
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  context.requests = [];
  context.problems = [];
  context.on('request', (request) => context.requests.push(request.url()));
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__violations.push(`${event.violatedDirective}: ${event.blockedURI}`);
    });
  });
  context.on('page', (page) => {
    page.on('pageerror', (error) => context.problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') context.problems.push(`console error: ${message.text()}`);
    });
  });
  return context;
}

/** A new page of `context` at the status page, once its first update is drawn. */
export async function statusPage(context) {
  const page = await context.newPage();
  const response = await page.goto(`${service.url}/`);
  try {
    await page.waitForFunction(() => document.getElementById('updated')?.textContent.startsWith('Updated'), null, {
      timeout: 15_000,
    });
  } catch (error) {
    const shown = await page.evaluate(() => `${document.getElementById('updated')?.textContent} / ${document.getElementById('problem')?.textContent}`);
    throw new Error(`the page did not show its first update (${shown}; ${context.problems.join('; ')}): ${error.message}`);
  }
  return { page, response };
}

/** Drops the console errors of `context` that match `pattern` (a refusal a case expects: the
 *  browser logs every 4xx answer as an error); fails when there is none. */
export function expectConsoleError(context, pattern) {
  const before = context.problems.length;
  context.problems = context.problems.filter((problem) => !pattern.test(problem));
  if (context.problems.length === before) throw new Error(`no console error matched ${pattern}`);
}

/** The API as a client other than the page (kresctl, curl): a bearer token, JSON. */
export async function api(path, { method = 'GET', body, token = service.fullToken } = {}) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    body,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, headers: response.headers };
}

/** Polls `condition` (async) until it returns a truthy value, at most `timeout` ms. */
export async function until(what, timeout, condition) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** dnsperf sending `qps` queries a second for `seconds` to the service's DNS port. */
export function dnsLoad(qps, seconds) {
  const dir = mkdtempSync(join(tmpdir(), 'kres-ui-dnsperf-'));
  const data = join(dir, 'queries');
  writeFileSync(data, 'a.example A\n');
  const child = spawn(
    'dnsperf',
    ['-s', '127.0.0.1', '-p', String(service.dnsPort), '-d', data, '-Q', String(qps), '-l', String(seconds), '-c', '4'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const done = new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`dnsperf: ${error.message} (is dnsperf installed?)`)));
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
  return {
    done,
    stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return done;
    },
  };
}
