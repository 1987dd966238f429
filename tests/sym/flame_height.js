// flame_height.js REPORT.html - open growprof's html report in headless Chromium
// (playwright-core) and measure the flame graph for each weight: it must be as tall as the
// frames it draws (its topmost frame in the top row, no empty band above the tower) and no
// taller than the deepest stack in the page's own data that has that weight. Prints one JSON
// object of findings; exit 0 if all hold, 1 otherwise.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const ROW = 18, PAD = 4; // report.js: the height of a row, the margin above the top one
const [html] = process.argv.slice(2);

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gp-chromium-'));
  const found = { errors: [], weights: [], problems: [] };
  const fail = (what) => found.problems.push(what);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.GP_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => found.errors.push(String(e)));
    await page.goto('file://' + path.resolve(html));
    await page.waitForSelector('#flamegraph svg rect', { timeout: 15000 });
    const data = await page.$eval('#gp-data', (e) => JSON.parse(e.textContent));
    for (const w of [0, 1, 2]) {
      await page.selectOption('#fg-weight', String(w));
      const m = await page.$eval('#flamegraph svg', (s) => {
        const ys = Array.from(s.querySelectorAll('rect')).map((r) => Number(r.getAttribute('y')));
        return { height: Number(s.getAttribute('height')), rects: ys.length,
          top: ys.length ? Math.min(...ys) : null };
      });
      // frames of the deepest stack with this weight, plus the 'all' row
      m.deepest = Math.max(0, ...data.stacks.filter((s) => s[w + 1] > 0)
        .map((s) => s[0].split(';').length));
      m.deepestAny = Math.max(0, ...data.stacks.map((s) => s[0].split(';').length));
      m.weight = w;
      found.weights.push(m);
      if (!m.rects) continue;
      if (m.top !== PAD)
        fail(`weight ${w}: the topmost frame is at y=${m.top}, not ${PAD}: an empty band of ` +
          `${m.top - PAD} px above it`);
      if (m.height > (m.deepest + 1) * ROW + PAD)
        fail(`weight ${w}: ${m.height} px tall for stacks of at most ${m.deepest} frames`);
    }
    if (found.errors.length) fail('page errors: ' + found.errors.join('; '));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(JSON.stringify(found));
  process.exit(found.problems.length ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
