// browser_check.js REPORT.html SCREENSHOT.png - open growprof's html report in headless
// Chromium (playwright-core) and check that it works as a person would use it: no console
// error and no request leaving the file, the flame graph and the charts drawn, a click on a
// frame zooms to it, hovering shows its numbers, reset and the weight choice redraw. Prints
// one JSON object of findings; exit 0 if all hold, 1 otherwise. Leaves SCREENSHOT.png (the
// page) and SCREENSHOT-zoom.png (the flame graph zoomed, with its tooltip).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [html, shot] = process.argv.slice(2);
const chromiumPath = process.env.GP_CHROMIUM || '/usr/bin/chromium';

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gp-chromium-'));
  const found = { errors: [], requests: [], problems: [] };
  const fail = (what) => found.problems.push(what);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') found.errors.push(m.text()); });
    page.on('pageerror', (e) => found.errors.push(String(e)));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      found.requests.push(url);
      return route.abort();
    });
    await page.goto('file://' + path.resolve(html));
    await page.waitForSelector('#flamegraph svg rect', { timeout: 15000 });

    // The flame graph: boxes with size, the two builders among them.
    const flame = await page.$$eval('#flamegraph svg rect', (rs) => rs.map((r) => ({
      name: r.getAttribute('data-name'), w: r.getBBox().width, h: r.getBBox().height })));
    found.flameBoxes = flame.filter((b) => b.w > 0 && b.h > 0).length;
    found.flameNames = flame.map((b) => b.name);
    if (found.flameBoxes < 4) fail(`flame graph has ${found.flameBoxes} boxes`);
    for (const fn of ['append_linear', 'append_doubling'])
      if (!found.flameNames.includes(fn)) fail(`flame graph has no box for ${fn}`);
    const flameWidth = await page.$eval('#flamegraph', (e) => e.clientWidth);

    // The charts: one SVG per hotspot with a drawn size line and marked moves.
    found.charts = await page.$$eval('svg.chart', (cs) => cs.map((c) => ({
      pathLength: c.querySelector('path.size') ? c.querySelector('path.size').getTotalLength() : 0,
      moves: c.querySelectorAll('circle.move').length,
      width: c.getBoundingClientRect().width,
      pattern: c.closest('figure') ? c.closest('figure').getAttribute('data-pattern') : null })));
    if (found.charts.length < 2) fail(`${found.charts.length} charts`);
    found.charts.forEach((c, i) => {
      if (!(c.pathLength > 50 && c.width > 100 && c.moves > 0))
        fail(`chart ${i + 1} is empty: ${JSON.stringify(c)}`);
    });
    const patterns = found.charts.map((c) => c.pattern);
    if (!patterns.includes('linear') || !patterns.includes('geometric'))
      fail(`charts do not show a linear and a geometric hotspot: ${patterns}`);

    // Click a frame: the flame graph zooms to it (it spans the whole width).
    const sel = '#flamegraph rect[data-name="append_doubling"]';
    const before = await page.$eval(sel, (r) => r.getBBox().width);
    await page.click(sel);
    await page.waitForFunction(() => document.querySelector('#flamegraph svg').getAttribute('data-zoom'));
    found.zoom = await page.$eval('#flamegraph svg', (s) => s.getAttribute('data-zoom'));
    const after = await page.$eval(sel, (r) => r.getBBox().width);
    found.zoomWidths = [before, after, flameWidth];
    if (!found.zoom.endsWith('append_doubling')) fail(`zoomed to '${found.zoom}'`);
    if (!(after > before && after > 0.9 * flameWidth)) fail(`zoom did not widen the frame: ${before} -> ${after}`);
    if (await page.$('#flamegraph rect[data-name="append_linear"]')) fail('a frame outside the zoom is still drawn');

    // Hover: the tooltip shows the numbers.
    await page.hover(sel);
    await page.waitForSelector('#fg-tip:not([hidden])', { timeout: 5000 });
    found.tooltip = await page.$eval('#fg-tip', (t) => t.textContent);
    if (!/bytes copied: .*moves: [\d,]+, steps: [\d,]+/.test(found.tooltip)) fail(`tooltip: ${found.tooltip}`);
    await (await page.$('#flame')).screenshot({ path: shot.replace(/\.png$/, '') + '-zoom.png' });

    // Reset, another weight, a search: still drawn.
    await page.click('#fg-reset');
    found.zoomAfterReset = await page.$eval('#flamegraph svg', (s) => s.getAttribute('data-zoom'));
    if (found.zoomAfterReset !== '') fail('reset did not unzoom');
    await page.selectOption('#fg-weight', '1');
    const linMoves = await page.$eval('#flamegraph rect[data-name="append_linear"]', (r) => r.getBBox().width);
    if (!(linMoves > 0)) fail('weight moves: append_linear not drawn');
    await page.selectOption('#fg-weight', '0');
    await page.fill('#fg-search', 'append_');
    found.searchMatches = await page.$$eval('#flamegraph rect.match', (r) => r.length);
    if (found.searchMatches !== 2) fail(`search 'append_' matched ${found.searchMatches} frames`);
    await page.fill('#fg-search', '');

    // Sorting a table by a column.
    await page.click('#sites-table th:nth-child(6)');
    found.sortedBy = await page.$eval('#sites-table th:nth-child(6)', (t) => t.className);

    await page.mouse.move(0, 0);
    await page.screenshot({ path: shot, fullPage: true });
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (found.errors.length) fail(`console errors: ${found.errors.join(' | ')}`);
  if (found.requests.length) fail(`network requests: ${found.requests.join(' ')}`);
  console.log(JSON.stringify(found, null, 1));
  return found.problems.length ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(String(e && e.stack || e)); process.exit(1); });
