/**
 * How fast the dashboard is with 100, 1,000 and 10,000 certificates (and as many agents):
 * `certkeeper dashboard --out DIR` over a generated local-mode directory (the same command,
 * server and page as for a stack; scripts/test-kit/fleet-fixture.ts), in headless Chromium.
 *
 * - first render: from navigation to the first painted timeline, in the page's own clock
 *   (User Timing mark `certkeeper:first-render`): HTML, script, the snapshot over HTTP,
 *   parsing, indexing and drawing the rows in sight;
 * - received: when the snapshot's last byte arrived, in the same clock;
 * - filter: from the keystroke to the painted result (`certkeeper:filter` measure), typing
 *   "42" into the name filter of the timeline;
 * - snapshot: what the command itself spends making the document once (reading DIR,
 *   building, serialising), in this process with the same code; the page does not wait for
 *   it (the command answers its latest snapshot and reads a fresh one behind it).
 *
 * Medians over --runs runs (default 5), each in a fresh tab. Not a test: figures.
 *
 *   npm run bench:dashboard   (tsx bench/dashboard.ts [--runs N] [--sizes 100,1000,10000])
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { BrowserContext } from 'playwright-core';
import { buildFleetSnapshot } from '../cli/fleet-view/build.js';
import { localSource } from '../cli/fleet-view/open.js';
import { launchBrowser, startDashboard } from '../scripts/test-kit/browser.js';
import { writeFleetFixture } from '../scripts/test-kit/fleet-fixture.js';
import { median } from './lib/measure.js';

interface Row {
  certificates: number;
  agents: number;
  bytes: number;
  snapshotMs: number;
  fetchedMs: number;
  firstRenderMs: number;
  filterMs: number;
  filterRows: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, sizes: { type: 'string', default: '100,1000,10000' } },
  });
  const runs = Number(values.runs);
  const sizes = values.sizes.split(',').map(Number);
  const browser = await launchBrowser();
  const rows: Row[] = [];
  try {
    for (const size of sizes) rows.push(await measureSize(size, runs, browser.context));
  } finally {
    await browser.close();
  }
  console.log(
    `\ncertkeeper dashboard, headless ${(await import('../scripts/test-kit/browser.js')).CHROMIUM}, medians of ${runs} runs\n`,
  );
  const table = [
    [
      'certificates',
      'agents',
      'snapshot',
      'made in',
      'received',
      'first render',
      'filter "42"',
      'rows after',
    ],
    ...rows.map((r) => [
      r.certificates.toLocaleString('en'),
      r.agents.toLocaleString('en'),
      `${(r.bytes / 1024 / 1024).toFixed(1)} MiB`,
      `${r.snapshotMs.toFixed(0)} ms`,
      `${r.fetchedMs.toFixed(0)} ms`,
      `${r.firstRenderMs.toFixed(0)} ms`,
      `${r.filterMs.toFixed(0)} ms`,
      String(r.filterRows),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) console.log(r.map((c, i) => c.padStart(widths[i]!)).join('  '));
}

async function measureSize(size: number, runs: number, context: BrowserContext): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `certkeeper-bench-dashboard-${size}-`));
  try {
    const fixture = writeFleetFixture(dir, { certificates: size });
    // The command's own cost of one snapshot, with its code, in this process.
    const made: number[] = [];
    let bytes = 0;
    for (let i = 0; i < runs; i++) {
      const source = await localSource(dir);
      const started = performance.now();
      const json = JSON.stringify(buildFleetSnapshot(await source.read(), source, new Date()));
      made.push(performance.now() - started);
      bytes = json.length;
    }
    const dashboard = await startDashboard(['--out', dir, '--port', '0', '--refresh', '60'], {});
    const first: number[] = [];
    const fetched: number[] = [];
    const filter: number[] = [];
    let filterRows = 0;
    try {
      for (let i = 0; i < runs; i++) {
        const page = await context.newPage();
        await page.goto(`${dashboard.url}#/timeline`);
        await page.waitForSelector('body[data-ready]', { timeout: 120_000 });
        // Run in the page (browser types, not Node's): the page's own clock.
        const times = await page.evaluate<{ rendered: number; fetched: number }>(`({
          rendered: performance.getEntriesByName('certkeeper:first-render')[0].startTime,
          fetched: performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/snapshot')).responseEnd,
        })`);
        first.push(times.rendered);
        fetched.push(times.fetched);
        await page.fill('#f-text', '42');
        await page.waitForSelector('body[data-filtered="1"]', { timeout: 60_000 });
        filter.push(
          await page.evaluate(() => performance.getEntriesByName('certkeeper:filter')[0]!.duration),
        );
        filterRows = Number(await page.textContent('#count-timeline'));
        await page.close();
      }
    } finally {
      await dashboard.stop();
    }
    return {
      certificates: size,
      agents: fixture.agents.length,
      bytes,
      snapshotMs: median(made),
      fetchedMs: median(fetched),
      firstRenderMs: median(first),
      filterMs: median(filter),
      filterRows,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
