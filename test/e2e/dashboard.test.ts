/**
 * `certkeeper dashboard` in a real browser (Debian's chromium, headless, through
 * playwright-core) over the local peers: a certificate issued by Pebble and renewed, with
 * real agents that installed it (one current, one behind, one gone silent, and one whose
 * report carries markup, as a compromised agent's could), a certificate whose issuance
 * failed at Pebble, and the fleet tick's view of them. The page must show each certificate
 * on the timeline, the behind agent with both serials, the silent one with since when it
 * lacks the current serial, narrow the rows by a filter, and show the last ACME problem with
 * its fix. Every answer is scanned for private key material. Then what goes wrong: a stack
 * that cannot be reached, credentials refused, a port in use, and data that tries to be
 * markup (local mode, made-up data).
 *
 * Screenshots of each view go to test-output/screenshots/ (git-ignored).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { get } from 'node:http';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../agent/agent.js';
import { type AgentConfigInput, loadAgentConfig } from '../../agent/config.js';
import { type FleetSnapshot, fleetSnapshotSchema } from '../../cli/fleet-view/schema.js';
import { handler as issuer } from '../../functions/issuer.js';
import { MemoryPublisher } from '../../shared/events/publisher.js';
import { monitorFleet } from '../../shared/fleet/monitor.js';
import { agentReportKey, serializeAgentReport } from '../../shared/fleet/report.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { DAY, SECOND, systemClock } from '../../shared/model/clock.js';
import { silentLog } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { declareCertificate, declareSpec } from '../../shared/usecases/declare-certificates.js';
import { runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { certkeeper } from '../../scripts/test-kit/operator.js';
import {
  type Browser,
  type Dashboard,
  launchBrowser,
  startDashboard,
} from '../../scripts/test-kit/browser.js';
import { writeFleetFixture } from '../../scripts/test-kit/fleet-fixture.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { scratch, testRoots } from '../support/scratch.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';

const SCREENSHOTS = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'test-output',
  'screenshots',
);
const ZONE = `${uniqueName('dash')}.test`;
const MARKUP = '<img src=x onerror="document.body.dataset.xss=1">';

let stack: StandInStack;
let inventory: DynamoInventory;
let objects: S3ObjectStore;
let browser: Browser;
const { defer, tempDir, cleanUp } = scratch('dashboard');

const agents = {
  current: uniqueName('web'),
  behind: uniqueName('web'),
  silent: uniqueName('web'),
  marked: uniqueName('web'),
};
const serials = { first: '', second: '' };

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await useStandInStack('dashboard', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
  browser = await launchBrowser();
  defer(() => browser.close());
  const { trustedCaFile } = await testRoots(tempDir('ca'));

  // Issued by Pebble, for four agents.
  const spec = await declareCertificate(inventory, { name: 'site', identifiers: [`site.${ZONE}`] });
  await declareSpec(inventory, {
    ...spec,
    delivery: { agents: Object.values(agents), probes: [], acmRegions: [] },
  });
  // Refused by Pebble: nothing answers its http-01 check for the stack's bucket.
  await declareCertificate(inventory, { name: 'broken', identifiers: ['127.0.0.1'] });
  const tick = await runTick(stack.clients.sqs, stack.queueUrl);
  expect(tick.issuer.batchItemFailures).toEqual([]);
  serials.first = (await inventory.get('site'))!.state.current!.serial;
  expect((await inventory.get('broken'))!.state.lastError?.type).toMatch(/^urn:ietf:params:acme:error:/);

  // Three real agents install it (no reload, no TLS check: they report what they installed).
  const host = tempDir('host');
  const agentOf = (name: string, pollIntervalSeconds: number) => {
    const input: AgentConfigInput = {
      name,
      bucket: stack.bucket,
      region: 'us-east-1',
      stateFile: join(host, `state-${name}.json`),
      trustedCaFile,
      pollIntervalSeconds,
      // The report as often as the check: the silent one's three seconds of silence.
      reportIntervalSeconds: pollIntervalSeconds,
      certificates: { site: { fullchain: join(host, `${name}.pem`), key: join(host, `${name}.key`) } },
    };
    const file = join(host, `${name}.json`);
    writeFileSync(file, JSON.stringify(input));
    return createAgent(loadAgentConfig(file), { log: silentLog });
  };
  const current = agentOf(agents.current, 3600);
  const installed = [current, agentOf(agents.behind, 3600), agentOf(agents.silent, 1)];
  for (const agent of installed) expect((await agent.syncOnce()).certificates[0]!.action).toBe('installed');

  // Renewed; only the first agent installs the renewal.
  const renewed = await issuer(
    sqsEvent([{ MessageId: 'renew', Body: JSON.stringify(forcedRenewal('site', new Date())) }]),
  );
  expect(renewed.batchItemFailures).toEqual([]);
  serials.second = (await inventory.get('site'))!.state.current!.serial;
  expect(serials.second).not.toBe(serials.first);
  expect((await current.syncOnce()).certificates[0]!.action).toBe('installed');

  // A report whose error is markup, as a compromised agent could write it.
  const at = new Date().toISOString();
  await objects.put(
    agentReportKey(agents.marked),
    serializeAgentReport({
      version: 1,
      agent: agents.marked,
      host: 'edge.example',
      agentVersion: '1.0.0',
      at,
      pollIntervalSeconds: 3600,
      certificates: {
        site: { installedSerial: serials.first, lastAction: 'error', lastError: MARKUP, checkedAt: at },
      },
    }),
  );

  // The silent agent polls every second: three seconds without a report is silence.
  await new Promise((r) => setTimeout(r, 3.5 * SECOND));
  await monitorFleet({
    inventory,
    objects,
    events: new MemoryPublisher(),
    clock: systemClock,
    log: silentLog,
    // Behind one second after the renewal was stored, so the test does not wait half an hour.
    rules: { lagMs: SECOND, silentIntervals: 3, expiringMs: DAY },
  });
});

afterAll(async () => {
  await cleanUp();
  stack.clients.s3.destroy();
});

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** The rows of the table in sight, as text. */
const rowsOf = (page: Page, table: string): Promise<string[]> =>
  page.$$eval(`[data-table="${table}"] .grid-body .grid-row`, (rows) => rows.map((r) => r.textContent ?? ''));

async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 60_000 });
}

describe('certkeeper dashboard over the local peers', () => {
  let dashboard: Dashboard;
  let page: Page;
  const bodies: { url: string; body: string }[] = [];

  beforeAll(async () => {
    dashboard = await startDashboard(['--refresh', '2'], stack.env);
    defer(() => dashboard.stop());
    page = await browser.context.newPage();
    // Every answer the page gets, for the key material scan.
    page.on('response', (response) => {
      void response
        .text()
        .then((body) => bodies.push({ url: response.url(), body }))
        .catch(() => undefined);
    });
  });

  it('the timeline shows each certificate with its state and CA', async () => {
    await open(page, `${dashboard.url}#/timeline`);
    const rows = await rowsOf(page, 'timeline');
    expect(rows.find((r) => r.startsWith('site'))).toMatch(/^siteissued/);
    expect(rows.find((r) => r.startsWith('broken'))).toMatch(/^brokenfailing/);
    // The issued one has its lifetime bar, its renewal mark and now.
    const bar = page.locator('.track[data-certificate="site"]');
    expect(await bar.locator('.life').count()).toBe(1);
    expect(await bar.locator('.renew').count()).toBe(1);
    expect(await bar.locator('.now').count()).toBe(1);
    expect(await bar.getAttribute('title')).toMatch(/^valid .* UTC; renewal .* \((ARI|policy)\)/);
    expect(await page.textContent('#data-time')).toMatch(/^data of \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    await shoot(page, 'timeline');
  });

  it('the fleet grid says the lagging agent is behind, with the serial it has and the current one', async () => {
    await open(page, `${dashboard.url}#/fleet`);
    const rows = await rowsOf(page, 'fleet');
    const behind = rows.find((r) => r.includes(agents.behind));
    expect(behind).toContain('behind');
    expect(behind).toContain(serials.first);
    expect(behind).toContain(serials.second);
    expect(rows.find((r) => r.includes(agents.current))).toMatch(/ok/);
    // Silent: since when it lacks the current serial, which status showed as "-".
    const silent = rows.find((r) => r.includes(agents.silent));
    expect(silent).toContain('silent');
    const stored = (await inventory.get('site'))!.state.lastSuccessAt!;
    expect(silent).toMatch(/\d+ min since \d\d-\d\d \d\d:\d\d/);
    expect(silent).toContain(`since ${stored.slice(5, 16).replace('T', ' ')}`);
    // The compromised agent's markup is text, not an element.
    expect(rows.find((r) => r.includes(agents.marked))).toContain(MARKUP);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate('document.body.dataset.xss')).toBeUndefined();
    await shoot(page, 'fleet');
  });

  it('a filter narrows the rows', async () => {
    await open(page, `${dashboard.url}#/fleet`);
    expect(await page.textContent('#count-fleet')).toBe('4');
    await page.fill('#f-agent', agents.behind);
    await page.waitForFunction("document.querySelector('#count-fleet')?.textContent === '1'");
    const rows = await rowsOf(page, 'fleet');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(agents.behind);
    await shoot(page, 'fleet-filtered');
    await page.click('#f-clear');
    await page.selectOption('#f-state', 'failing');
    await page.click('#tab-timeline');
    await page.waitForFunction("document.querySelector('#count-timeline')?.textContent === '1'");
    expect((await rowsOf(page, 'timeline'))[0]).toMatch(/^broken/);
    await page.click('#f-clear');
  });

  it('a detail view shows the last problem with its fix, and the history of serials', async () => {
    await open(page, `${dashboard.url}#/certificate/broken`);
    const problem = page.locator('[data-problem]');
    expect(await problem.textContent()).toMatch(/urn:ietf:params:acme:error:(connection|unauthorized)/);
    expect(await problem.locator('.fix').textContent()).toMatch(
      /^Fix: the CA (could not connect|found no valid authorization)/,
    );
    await shoot(page, 'detail-failing');
    await open(page, `${dashboard.url}#/certificate/site`);
    await page.waitForSelector('[data-history] ol');
    const history = await page.locator('[data-history] li').allTextContents();
    expect(history).toEqual([`${serials.first} issued`, `${serials.second} renewed · current`]);
    await shoot(page, 'detail-issued');
  });

  it('the agents and the recent events', async () => {
    await open(page, `${dashboard.url}#/agents`);
    const rows = await rowsOf(page, 'agents');
    expect(rows.find((r) => r.includes(agents.behind))).toMatch(/configured.*0\/1 ok1 need attention/);
    await shoot(page, 'agents');
    await open(page, `${dashboard.url}#/events`);
    const events = await rowsOf(page, 'events');
    expect(events.some((e) => /failedbroken/.test(e))).toBe(true);
    expect(events.some((e) => e.includes(`laggingsiteagent ${agents.behind}`))).toBe(true);
    expect(events.some((e) => /issuedsite/.test(e))).toBe(true);
    await shoot(page, 'events');
  });

  it('reads well on a phone', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await open(phone, `${dashboard.url}#/fleet`);
    const width = await phone.evaluate<number>('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(390);
    // The filters fold away until asked for: the rows get the screen.
    expect(await phone.locator('#f-agent').isVisible()).toBe(false);
    await shoot(phone, 'phone-fleet');
    await phone.click('#filters > summary');
    await phone.fill('#f-agent', agents.silent);
    await phone.waitForFunction("document.querySelector('#count-fleet')?.textContent === '1'");
    expect(await phone.textContent('#filters > summary')).toBe('Filters (1 on)');
    await phone.close();
  });

  it('no answer carries private key material', async () => {
    // The answers the page got, and each route asked for directly.
    for (const path of [
      '',
      'app.js',
      'app.css',
      'api/snapshot',
      'api/certificates/site',
      'api/certificates/broken',
    ]) {
      const response = await fetch(`${dashboard.url}${path}`);
      bodies.push({ url: path, body: await response.text() });
    }
    const keys = await storedKeys('site');
    expect(keys.length).toBe(2);
    expect(bodies.length).toBeGreaterThan(8);
    for (const { url, body } of bodies) {
      expect(body, url).not.toContain('PRIVATE KEY');
      for (const key of keys) expect(body, url).not.toContain(key);
    }
  });

  it('`certkeeper status --json` prints the document the page reads', async () => {
    const status = await certkeeper(['status', '--json'], stack.env);
    expect(status.code, status.stderr).toBe(1); // one behind, one silent, one failing
    const printed = fleetSnapshotSchema.parse(JSON.parse(status.stdout));
    const served = fleetSnapshotSchema.parse(await (await fetch(`${dashboard.url}api/snapshot`)).json());
    // The same reading, made a moment apart: only what depends on the moment may differ.
    const moment = (s: FleetSnapshot) => ({
      ...s,
      generatedAt: undefined,
      certificates: s.certificates.map((c) => ({
        ...c,
        // Never issued: due (and renewed) "now".
        renewalAt: c.serial ? c.renewalAt : undefined,
        dueAt: c.serial ? c.dueAt : undefined,
        targets: c.targets.map((t) => ({ ...t, reportAgeMinutes: undefined })),
      })),
      agents: s.agents.map((a) => ({ ...a, reportAgeMinutes: undefined })),
    });
    expect(moment(printed)).toEqual(moment(served));
    expect(printed.certificates.map((c) => `${c.name} ${c.state}`)).toEqual([
      'broken failing',
      'site issued',
    ]);
  });

  it('answers only GET, only to its own host name', async () => {
    expect((await fetch(`${dashboard.url}api/snapshot`, { method: 'POST' })).status).toBe(405);
    // A name that resolves here (DNS rebinding) is not this server's: fetch cannot set Host.
    const rebinding = await new Promise<number | undefined>((done, fail) =>
      get(`${dashboard.url}api/snapshot`, { headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        done(res.statusCode);
      }).once('error', fail),
    );
    expect(rebinding).toBe(421);
    const snapshot = await fetch(`${dashboard.url}api/snapshot`);
    expect(snapshot.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(snapshot.headers.get('access-control-allow-origin')).toBeNull();
    expect(fleetSnapshotSchema.parse(await snapshot.json()).certificates.map((c) => c.name)).toEqual([
      'broken',
      'site',
    ]);
  });
});

/** The base64 bodies of the certificate's private keys in the bucket (every serial). */
async function storedKeys(name: string): Promise<string[]> {
  const keys: string[] = [];
  for (const serial of [serials.first, serials.second]) {
    const pem = await objects.get(`certificates/${name}/${serial}/privkey.pem`);
    if (!pem) continue;
    const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    // A stretch from the middle: any copy of the key, wrapped or not, contains its lines.
    keys.push(body.slice(8, 8 + 48));
  }
  return keys;
}

describe('what goes wrong shows on the page', () => {
  const problemOf = async (env: Record<string, string>, shot: string): Promise<string> => {
    const dashboard = await startDashboard(['--refresh', '2'], env);
    try {
      const page = await browser.context.newPage();
      await page.goto(dashboard.url);
      await page.waitForSelector('#problem:not([hidden])', { timeout: 60_000 });
      const text = (await page.textContent('#problem')) ?? '';
      await shoot(page, shot);
      await page.close();
      return text;
    } finally {
      const end = await dashboard.stop();
      expect(end.code).toBe(0);
      expect(end.stderr).toContain('certkeeper: the fleet could not be read:');
    }
  };

  it('a stack that cannot be reached: the page says so with the fix', async () => {
    const text = await problemOf(
      { ...stack.env, AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' },
      'unreachable',
    );
    expect(text).toMatch(/^The fleet could not be read/);
    expect(text).toMatch(/DynamoDB/);
    expect(text).toMatch(/Fix: /);
  });

  it('credentials that are refused: the page says so with the fix', async () => {
    // DynamoDB Local refuses an access key that is not letters and digits, as AWS refuses an unknown one.
    const text = await problemOf({ ...stack.env, AWS_ACCESS_KEY_ID: 'not-a-key!' }, 'denied');
    expect(text).toMatch(/^The fleet could not be read/);
    expect(text).toMatch(/credentials|access key|security token/i);
    expect(text).toMatch(/Fix: /);
  });

  it('--port in use says so and exits 2', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const run = await certkeeper(['dashboard', '--port', String(port)], stack.env);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `certkeeper: --port: 127.0.0.1:${port} is in use. Fix: pick another port with --port, or leave --port out for a free one\n`,
      );
    } finally {
      server.close();
    }
  });

  it('local mode: a directory that is not there is a usage error', async () => {
    const run = await certkeeper(['dashboard', '--out', join(tempDir('none'), 'missing')], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^certkeeper: --out: .*missing is not a directory\. Fix: /);
  });
});

describe('local mode, with data that tries to be markup', () => {
  it('shows names and errors as text', async () => {
    const dir = tempDir('fixture');
    writeFleetFixture(dir, { certificates: 12, seed: 7 });
    // What a compromised writer of the bucket could put in the fleet view.
    const view = JSON.parse(readFileSync(join(dir, 'fleet', 'status.json'), 'utf8'));
    const first = Object.values(view.certificates as Record<string, { targets: object[] }>)[0]!;
    const target = first.targets[0]!;
    Object.assign(target, {
      id: MARKUP,
      error: '<script>document.body.dataset.xss=2</script>',
      health: 'behind',
    });
    writeFileSync(join(dir, 'fleet', 'status.json'), JSON.stringify(view));
    const dashboard = await startDashboard(['--out', dir], {});
    try {
      const page = await browser.context.newPage();
      await open(page, `${dashboard.url}#/fleet`);
      const rows = await rowsOf(page, 'fleet');
      const marked = rows.find((r) => r.includes(MARKUP));
      expect(marked).toContain('<script>document.body.dataset.xss=2</script>');
      await open(page, `${dashboard.url}#/agents`);
      expect((await rowsOf(page, 'agents')).some((r) => r.includes(MARKUP))).toBe(true);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('script').count()).toBe(1); // app.js alone
      expect(await page.evaluate('document.body.dataset.xss')).toBeUndefined();
      await shoot(page, 'local-markup');
      await page.close();
    } finally {
      await dashboard.stop();
    }
  });
});
