// The screenshot of the status page kept in docs/ (scripts/screenshot-ui.sh): the real service
// that manager/tests/ui_browser.rs started, under a dnsperf load long enough for the rate chart
// to show a curve, after the browser tests left some changes in the recent changes.
//
//   node screenshot.mjs OUT.png [PHONE-DARK.png]
//
// The second file, when named, is the page on a phone-sized screen in the dark theme (for a
// look, not kept).

import { api, dnsLoad, launch, open, service, statusPage } from './browser.mjs';

const [out, phone] = process.argv.slice(2);
if (!out) throw new Error('usage: node screenshot.mjs OUT.png [PHONE-DARK.png]');

const browser = await launch();
try {
  const context = await open(browser, service.fullToken, { viewport: { width: 1280, height: 900 } });
  const { page } = await statusPage(context);
  // A change to show, made as an operator would.
  await api('/v1/config/logging/level', { method: 'PUT', body: JSON.stringify('notice') });
  const load = dnsLoad(800, 40);
  try {
    // About half a minute of the load in the chart.
    await page.waitForFunction(
      () => {
        const chart = document.getElementById('rate-chart');
        return Number(chart.dataset.points) >= 30 && Number(chart.dataset.latestTotal) > 300;
      },
      null,
      { timeout: 60_000 },
    );
    await page.fill('#pointer', '/workers');
    await page.fill('#value', '3');
    await page.click('#preview');
    await page.locator('#plan-result li').first().waitFor({ timeout: 5_000 });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
    if (phone) {
      const small = await open(browser, service.fullToken, {
        viewport: { width: 390, height: 844 },
        colorScheme: 'dark',
        isMobile: true,
        hasTouch: true,
      });
      const { page: phonePage } = await statusPage(small);
      await phonePage.waitForFunction(() => Number(document.getElementById('rate-chart').dataset.points) >= 5, null, {
        timeout: 20_000,
      });
      await phonePage.screenshot({ path: phone, fullPage: true });
      console.log(`wrote ${phone}`);
    }
  } finally {
    await load.stop();
  }
} finally {
  await browser.close();
}
