// The adforge dashboard in headless Chromium, driven by playwright-core.
//
// Walks the advertiser's path through a running server: sign in (a wrong key first), create a
// brand kit and upload its logo, create a campaign whose name holds a <script> tag (it must
// show as text and never run), add a segment (invalid rules first, to see the server's
// error), add a placement, upload a product photo (a non-image first) and see its preview,
// generate one creative and wait for the job, check the product shows in it and approve it in
// the gallery, open the performance page, upload a batch CSV, and look at the main pages at phone
// width. Screenshots of every main page go to SCREENSHOT_DIR.
//
// Environment: BASE_URL (the server), API_KEY (an advertiser key), SCREENSHOT_DIR (default
// ./screenshots), CHROMIUM_PATH (default /usr/bin/chromium), GENERATE_TIMEOUT_MS (default
// 300000). Exits 0 when every check passes, 1 otherwise. api/tests/dashboard_browser.rs starts
// the server and runs this file.

import { chromium } from 'playwright-core';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const BASE_URL = (process.env.BASE_URL || '').replace(/\/$/, '');
const API_KEY = process.env.API_KEY || '';
const SHOTS = process.env.SCREENSHOT_DIR || 'screenshots';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const GENERATE_TIMEOUT = Number(process.env.GENERATE_TIMEOUT_MS || 300000);
const CAMPAIGN_NAME = 'Spring <script>alert(1)</script> sale';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!BASE_URL || !API_KEY) {
  console.error('dashboard.spec.mjs: set BASE_URL and API_KEY');
  process.exit(2);
}

// A hard stop so that a hung page can never hang the test run.
const overall = setTimeout(() => {
  console.error('dashboard.spec.mjs: gave up after 15 minutes');
  process.exit(1);
}, 15 * 60 * 1000);

let stepName = '';
async function step(name, body) {
  stepName = name;
  const started = Date.now();
  process.stdout.write(`- ${name} … `);
  await body();
  console.log(`ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Fails on dialogs (an alert would mean injected script ran), page errors and CSP reports. */
function watch(page, problems) {
  page.on('dialog', async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`uncaught error in the page: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    // Failed requests the test provokes on purpose (401, 422) are logged too; CSP violations
    // and script errors are what matters.
    if (message.type() === 'error' && /Content Security Policy|Refused to|Uncaught/.test(text)) {
      problems.push(`console: ${text}`);
    }
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** No element sticks out sideways (the page is usable without horizontal scrolling). */
async function assertFitsWidth(page, what) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  }));
  assert.ok(scroll <= width + 1, `${what}: the page is ${scroll}px wide in a ${width}px window`);
}

async function signIn(page) {
  await page.goto(`${BASE_URL}/`);
  await page.locator('#signin-form').waitFor();
  await page.fill('input[name="api_key"]', API_KEY);
  await page.click('#signin-form button[type="submit"]');
  await page.locator('h1', { hasText: 'Campaigns' }).waitFor();
}

/** A small PNG drawn by the browser itself. */
async function logoPng(page) {
  const dataUrl = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 32;
    const g = canvas.getContext('2d');
    g.fillStyle = '#0055ff';
    g.fillRect(0, 0, 64, 32);
    g.fillStyle = '#ffcc00';
    g.beginPath();
    g.arc(16, 16, 12, 0, Math.PI * 2);
    g.fill();
    return canvas.toDataURL('image/png');
  });
  return Buffer.from(dataUrl.split(',')[1], 'base64');
}

/** A studio packshot drawn by the browser: a magenta bottle on a near-white backdrop. */
async function packshotPng(page) {
  const dataUrl = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const g = canvas.getContext('2d');
    g.fillStyle = '#f6f6f4';
    g.fillRect(0, 0, 160, 120);
    g.fillStyle = '#dc14c8';
    g.fillRect(62, 30, 36, 80);
    g.fillRect(72, 12, 16, 20);
    return canvas.toDataURL('image/png');
  });
  return Buffer.from(dataUrl.split(',')[1], 'base64');
}

/** Share of an image's pixels close to the packshot's magenta (the image must be same-origin). */
async function magentaShare(page, selector) {
  return page.evaluate((selector) => {
    const img = document.querySelector(selector);
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const { data } = g.getImageData(0, 0, canvas.width, canvas.height);
    let close = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] > 170 && data[i + 1] < 80 && data[i + 2] > 150) close += 1;
    }
    return close / (canvas.width * canvas.height);
  }, selector);
}

async function main() {
  await mkdir(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  const problems = [];
  let campaignUrl = '';
  try {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await desktop.newPage();
    page.setDefaultTimeout(20000);
    watch(page, problems);

    await step('sign-in page; a wrong key is refused; the right key signs in', async () => {
      await page.goto(`${BASE_URL}/`);
      await page.locator('#signin-form').waitFor();
      await shot(page, '01-signin');
      await page.fill('input[name="api_key"]', 'adf_not_a_real_key');
      await page.click('#signin-form button[type="submit"]');
      await page.locator('#signin-form .problem', { hasText: 'not accepted' }).waitFor();
      await page.fill('input[name="api_key"]', API_KEY);
      await page.click('#signin-form button[type="submit"]');
      await page.locator('h1', { hasText: 'Campaigns' }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem('adforge.apiKey')), API_KEY);
    });

    await step('brand kit with colours, word rules and an uploaded logo', async () => {
      await page.click('nav >> text=Brand kits');
      const form = page.locator('#brand-kit-form');
      await form.locator('[name="name"]').fill('Acme Outdoor');
      await form.locator('[name="colors"]').fill('#0055FF, #FFCC00');
      await form.locator('[name="banned_words"]').fill('cheap\nguaranteed');
      await form.locator('[name="required_phrases"]').fill('Acme');
      await form.locator('[name="disclaimer"]').fill('Offer valid while stocks last.');
      await form.locator('button[type="submit"]').click();
      await page.locator('#logo-form').waitFor();
      assert.match(page.url(), /#\/brand-kits\/[^/]+$/);
      await page.setInputFiles('#logo-form input[type="file"]', { name: 'logo.png', mimeType: 'image/png', buffer: await logoPng(page) });
      await page.click('#logo-form button[type="submit"]');
      const logo = page.locator('#logo-preview img');
      await logo.waitFor();
      await page.waitForFunction(() => {
        const img = document.querySelector('#logo-preview img');
        return img && img.complete && img.naturalWidth === 64 && img.src.startsWith('blob:');
      });
      await shot(page, '02-brand-kit');
    });

    await step('campaign whose name holds <script> shows it as text', async () => {
      await page.click('nav >> text=Campaigns');
      const form = page.locator('#campaign-form');
      await form.waitFor();
      await form.locator('[name="name"]').fill(CAMPAIGN_NAME);
      await form.locator('[name="brand"]').fill('Acme');
      await form.locator('[name="product"]').fill('Trail running shoes');
      await form.locator('[name="landing_url"]').fill('https://example.com/trail');
      await form.locator('[name="description"]').fill('Light trail shoes with a grippy sole for wet spring runs.');
      await form.locator('[name="offer"]').fill('15% off this week');
      await form.locator('[name="objective"]').selectOption('traffic');
      await form.locator('[name="tone"]').fill('energetic');
      await form.locator('[name="brand_kit_id"]').selectOption({ label: 'Acme Outdoor' });
      await form.locator('button[type="submit"]').click();
      await page.locator('#campaign-title').waitFor();
      campaignUrl = page.url().match(/^(.*#\/campaigns\/[^/]+)/)[1];
      assert.equal(await page.locator('#campaign-title').textContent(), CAMPAIGN_NAME);
      await page.click('nav >> text=Campaigns');
      const link = page.locator('#campaign-list a.campaign-name').first();
      await link.waitFor();
      assert.equal(await link.textContent(), CAMPAIGN_NAME);
      const injected = await page.evaluate(() => document.querySelectorAll('main script, main img[onerror]').length);
      assert.equal(injected, 0, 'the campaign name became markup');
      await shot(page, '03-campaigns');
    });

    await step('segment: invalid rules show the server error and field, valid rules save', async () => {
      await page.goto(`${campaignUrl}/segments`);
      const form = page.locator('form.segment-form').last();
      await form.locator('[name="name"]').fill('Young trail runners');
      await form.locator('[name="persona"]').fill('People aged 18 to 34 who run on trails at weekends.');
      await form.locator('[name="rules"]').fill('{"all": [{"age": {"min": "young"}}]}');
      await form.locator('button[type="submit"]').click();
      const problem = form.locator('.problem');
      await problem.waitFor();
      const text = await problem.textContent();
      assert.match(text, /field: rules/, `the error names the field: ${text}`);
      assert.match(text, /age/, `the error points into the rules: ${text}`);
      assert.equal(await form.locator('[name="rules"]').getAttribute('aria-invalid'), 'true');
      await shot(page, '04-segment-error');
      await form.locator('[name="rules"]').fill('{"all": [{"age": {"min": 18, "max": 34}}, {"interests": ["running"]}]}');
      await form.locator('button[type="submit"]').click();
      await page.locator('#segment-list h3', { hasText: 'Young trail runners' }).waitFor();
      await shot(page, '04-segments');
    });

    await step('placement from a preset', async () => {
      await page.click('.tabs >> text=Placements');
      const form = page.locator('#placement-form');
      await form.locator('[name="name"]').fill('Sidebar rectangle');
      await form.locator('[name="preset"]').selectOption('iab_medium_rectangle');
      await form.locator('button[type="submit"]').click();
      await page.locator('#placement-list td', { hasText: 'Sidebar rectangle' }).waitFor();
      await shot(page, '05-placements');
    });

    await step('product photo: a non-image is refused on its field; a packshot uploads and previews', async () => {
      await page.click('.tabs >> text=Product photos');
      const form = page.locator('#photo-form');
      await form.waitFor();
      await page.setInputFiles('#photo-form input[type="file"]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
      await form.locator('button[type="submit"]').click();
      const problem = form.locator('.problem');
      await problem.waitFor();
      assert.match(await problem.textContent(), /field: image/);
      await page.setInputFiles('#photo-form input[type="file"]', { name: 'bottle.png', mimeType: 'image/png', buffer: await packshotPng(page) });
      await page.locator('#photo-form button[type="submit"]').click();
      await page.locator('#photo-list figure', { hasText: 'bottle.png' }).waitFor();
      await page.waitForFunction(() => {
        const img = document.querySelector('#photo-list img');
        return img && img.complete && img.naturalWidth === 160 && img.src.startsWith('blob:');
      });
      await shot(page, '05-product-photos');
    });

    await step('generate one creative and follow the job to the end', async () => {
      await page.click('.tabs >> text=Generate');
      const form = page.locator('#generate-form');
      await form.locator('[name="variants"]').selectOption('1');
      assert.equal(await form.locator('input[name="segment_ids"]:checked').count(), 1);
      assert.equal(await form.locator('input[name="placement_ids"]:checked').count(), 1);
      await form.locator('button[type="submit"]').click();
      const job = page.locator('#job-progress .job').first();
      await job.waitFor();
      await shot(page, '06-generate-running');
      await page.waitForFunction(() => {
        const el = document.querySelector('#job-progress .job');
        return el && ['succeeded', 'failed', 'cancelled'].includes(el.dataset.status);
      }, null, { timeout: GENERATE_TIMEOUT, polling: 500 });
      const status = await job.getAttribute('data-status');
      await shot(page, '06-generate');
      assert.equal(status, 'succeeded', `the job ended ${status}: ${await job.textContent()}`);
      assert.equal(await job.locator('progress').evaluate((p) => p.value === p.max), true);
    });

    await step('gallery shows the creative at its size; approve it', async () => {
      await page.click('#job-progress >> text=Open the gallery');
      const card = page.locator('#gallery .creative').first();
      await card.waitFor();
      const headline = (await card.locator('.headline').textContent()).trim();
      assert.ok(headline.length > 0, 'the creative has a headline');
      await page.waitForFunction(() => {
        const img = document.querySelector('#gallery img.creative-image');
        return img && img.complete && img.naturalWidth === 300 && img.naturalHeight === 250;
      });
      // The uploaded product is in the picture.
      const share = await magentaShare(page, '#gallery img.creative-image');
      assert.ok(share > 0.02, `the product photo is hardly visible in the creative (${(share * 100).toFixed(1)} % of its pixels)`);
      await card.locator('button[data-action="approve"]').click();
      await page.locator('#gallery .creative[data-status="approved"]').waitFor();
      await shot(page, '07-gallery');
    });

    let headline = '';
    await step('campaign goes live; an ad server shows the creative once and it is clicked', async () => {
      headline = (await page.locator('#gallery .creative .headline').first().textContent()).trim();
      await page.click('.tabs >> text=Settings');
      const form = page.locator('#campaign-edit-form');
      await form.locator('[name="status"]').selectOption('live');
      await form.locator('button[type="submit"]').click();
      await page.locator('.title-row .badge-live').waitFor();
      await page.click('.tabs >> text=Placements');
      const row = page.locator('#placement-list tr', { hasText: 'Sidebar rectangle' });
      await row.locator('button[data-action="serve-key"]').click();
      await page.waitForFunction(() => /^pk_/.test(document.querySelector('#placement-list .serve-key')?.textContent || ''));
      const placementKey = (await row.locator('.serve-key').textContent()).trim();
      // What an ad server does: ask for a creative, then fire the impression and click URLs.
      const served = await fetch(`${BASE_URL}/v1/serve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ placement_key: placementKey, request: { age: 25, interests: ['running'], country: 'FR' }, user_key: 'viewer-1' }),
      });
      assert.equal(served.status, 200, `serve answered ${served.status}: ${await served.clone().text()}`);
      const ad = await served.json();
      assert.equal(ad.headline, headline);
      assert.equal((await fetch(ad.impression_url)).ok, true, 'impression recorded');
      const click = await fetch(ad.click_url, { redirect: 'manual' });
      assert.ok(click.status === 302 || click.ok, `click answered ${click.status}`);
    });

    await step('performance page: totals, chart and table with the served creative', async () => {
      await page.click('.tabs >> text=Performance');
      await page.locator('#stats-totals').waitFor();
      assert.equal(await page.locator('#stats-totals .metric').count(), 3);
      const totals = await page.locator('#stats-totals').textContent();
      assert.match(totals, /1\s*Impressions/, totals);
      assert.match(totals, /1\s*Clicks/, totals);
      assert.match(totals, /100\.00 %/, totals);
      await page.locator('#creative-stats svg.chart').waitFor();
      assert.equal(await page.locator('#creative-stats svg.chart title').first().textContent(), headline);
      await page.locator('#segment-stats', { hasText: 'Young trail runners' }).waitFor();
      await shot(page, '08-stats');
    });

    await step('batch upload with progress and downloads', async () => {
      await page.click('nav >> text=Batches');
      await page.locator('#batch-form').waitFor();
      const csv = await batchCsv();
      await page.setInputFiles('#batch-form input[name="file"]', { name: 'batch.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
      await page.click('#batch-form button[type="submit"]');
      const panel = page.locator('#batch-list .batch').first();
      await panel.waitFor();
      await page.waitForFunction(() => {
        const el = document.querySelector('#batch-list .batch');
        return el && !['queued', 'running'].includes(el.dataset.status);
      }, null, { timeout: GENERATE_TIMEOUT, polling: 500 });
      await panel.locator('button[data-download="results.csv"]').waitFor();
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        panel.locator('button[data-download="results.csv"]').click(),
      ]);
      const results = await readFile(await download.path(), 'utf8');
      assert.ok(results.split(/\r?\n/).filter((l) => l.trim()).length >= 2, `results.csv has a header and a row: ${results.slice(0, 300)}`);
      // Coming back to the page lists the batch from the server (GET /v1/batches).
      await page.click('nav >> text=Campaigns');
      await page.click('nav >> text=Batches');
      await page.locator('#batch-list .batch').first().waitFor();
      const listed = await page.locator('#batch-list .batch').count();
      assert.equal(listed, 1, 'the uploaded batch is listed once');
      await shot(page, '09-batches');
    });

    await step('phone width (375px): main pages fit without sideways scrolling', async () => {
      const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
      const small = await phone.newPage();
      small.setDefaultTimeout(20000);
      watch(small, problems);
      await small.goto(`${BASE_URL}/`);
      await small.locator('#signin-form').waitFor();
      await assertFitsWidth(small, 'sign-in');
      await shot(small, 'phone-01-signin');
      await signIn(small);
      await assertFitsWidth(small, 'campaigns');
      await shot(small, 'phone-03-campaigns');
      for (const [tab, ready, name] of [
        ['segments', '#segment-list', 'phone-04-segments'],
        ['generate', '#generate-form', 'phone-06-generate'],
        ['gallery', '#gallery .creative', 'phone-07-gallery'],
        ['stats', '#stats-totals', 'phone-08-stats'],
      ]) {
        await small.goto(`${campaignUrl}/${tab}`);
        await small.locator(ready).first().waitFor();
        await small.waitForLoadState('networkidle');
        await assertFitsWidth(small, tab);
        await shot(small, name);
      }
      await small.goto(`${BASE_URL}/#/batches`);
      await small.locator('#batch-form').waitFor();
      await assertFitsWidth(small, 'batches');
      await shot(small, 'phone-09-batches');
      await phone.close();
    });

    await step('signing out forgets the key', async () => {
      await page.click('#sign-out');
      await page.locator('#signin-form').waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem('adforge.apiKey')), null);
    });

    assert.deepEqual(problems, [], 'no dialogs, page errors or CSP violations');
  } finally {
    await browser.close();
  }
}

/** A one-row batch file for the campaign made above: the sample's header with our names. */
async function batchCsv() {
  const header = 'campaign,segment,placement,variants';
  return `${header}\n"${CAMPAIGN_NAME.replace(/"/g, '""')}",Young trail runners,Sidebar rectangle,1\n`;
}

main().then(() => {
  clearTimeout(overall);
  console.log(`dashboard: every check passed; screenshots in ${SHOTS}`);
}, (error) => {
  console.log('FAILED');
  console.error(`dashboard: step "${stepName}" failed:\n${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
