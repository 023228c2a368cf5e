/**
 * The dashboard's server and its snapshot service with a stand-in source: what the browser
 * test cannot make happen on purpose (a source that fails and comes back, key material in
 * the data, a foreign Host header) and the rules of the answers.
 */
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { PageAssets } from '../../../cli/dashboard/assets.js';
import { type DashboardServer, startDashboardServer } from '../../../cli/dashboard/server.js';
import { type SnapshotService, snapshotService } from '../../../cli/dashboard/snapshots.js';
import { fleetSnapshotSchema, snapshotProblemSchema } from '../../../cli/fleet-view/schema.js';
import type { FleetSource } from '../../../cli/fleet-view/source.js';
import { UnreachableError } from '../../../shared/model/errors.js';
import { ManualClock } from '../../../shared/model/clock.js';
import { record } from '../../support/fleet-records.js';

const ASSETS: PageAssets = {
  'index.html': '<meta name="certkeeper-refresh" content="__REFRESH_SECONDS__">',
  'app.js': 'void 0;',
  'app.css': 'body{}',
};

function source(overrides: Partial<FleetSource> = {}): FleetSource & { reads: number } {
  const s = {
    kind: 'stack' as const,
    location: 's3://bucket',
    clock: new ManualClock('2026-11-20T14:00:00Z'),
    reads: 0,
    async read() {
      s.reads++;
      return { records: [record({ agents: ['web-1'] })], view: undefined };
    },
    async history(name: string) {
      return name === 'web' ? { name, serials: [], manifest: null, error: null } : undefined;
    },
    ...overrides,
  };
  return s;
}

let server: DashboardServer | undefined;
let service: SnapshotService | undefined;
afterEach(async () => {
  service?.close();
  await server?.close();
  server = service = undefined;
});

async function serve(s: SnapshotService): Promise<DashboardServer> {
  service = s;
  server = await startDashboardServer({ service: s, assets: ASSETS, port: 0, refreshSeconds: 7 });
  return server;
}

function get(url: string, options: { method?: string; host?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(
        url,
        { method: options.method ?? 'GET', headers: options.host ? { host: options.host } : {} },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        },
      );
      req.once('error', reject);
      req.end();
    },
  );
}

describe('the dashboard server', () => {
  it('serves the page, its files and the snapshot on 127.0.0.1, with the security headers', async () => {
    const { url } = await serve(snapshotService({ open: async () => source(), describe: source() }));
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(url);
    expect(page.body).toBe('<meta name="certkeeper-refresh" content="7">');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self';/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect((await get(`${url}app.js`)).headers['content-type']).toBe('text/javascript; charset=utf-8');
    const snapshot = await get(`${url}api/snapshot`);
    expect(snapshot.status).toBe(200);
    expect(fleetSnapshotSchema.parse(JSON.parse(snapshot.body)).certificates[0]!.name).toBe('web');
    expect((await get(`${url}api/certificates/web`)).status).toBe(200);
    expect((await get(`${url}api/certificates/nope`)).status).toBe(404);
    expect((await get(`${url}api/certificates/..%2F..%2Fetc`)).status).toBe(404);
    expect((await get(`${url}elsewhere`)).status).toBe(404);
  });

  it('answers GET and HEAD only, and only to its own host name', async () => {
    const { url, port } = await serve(snapshotService({ open: async () => source(), describe: source() }));
    expect((await get(`${url}api/snapshot`, { method: 'POST' })).status).toBe(405);
    expect((await get(`${url}api/snapshot`, { method: 'HEAD' })).status).toBe(200);
    expect((await get(`${url}api/snapshot`, { host: 'evil.example' })).status).toBe(421);
    expect((await get(`${url}api/snapshot`, { host: `localhost:${port}` })).status).toBe(200);
  });

  it('refuses an answer that carries a private key, whatever put it there', async () => {
    const leaky = source({
      async read() {
        const r = record({});
        r.state.lastError = {
          code: 'internal',
          // A real key, made for this test: what a leak would carry.
          detail: generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
            .privateKey.export({ type: 'pkcs8', format: 'pem' })
            .toString(),
          at: r.state.updatedAt,
        };
        return { records: [r], view: undefined };
      },
    });
    const { url } = await serve(snapshotService({ open: async () => leaky, describe: leaky }));
    const answer = await get(`${url}api/snapshot`);
    expect(answer.status).toBe(500);
    expect(answer.body).not.toContain('PRIVATE KEY');
  });
});

describe('the snapshot service', () => {
  it('a source that cannot be opened is a problem with its fix; opened again on the next request', async () => {
    let fail = true;
    const good = source();
    const s = snapshotService({
      open: async () => {
        if (fail)
          throw new UnreachableError(
            'DynamoDB at http://127.0.0.1:9 could not be reached',
            'check the endpoint',
          );
        return good;
      },
      describe: good,
    });
    service = s;
    const problem = await s.snapshot();
    expect(problem.status).toBe(503);
    expect(snapshotProblemSchema.parse(JSON.parse(problem.json))).toMatchObject({
      error: {
        code: 'unreachable',
        message: expect.stringMatching(/could not be reached/),
        fix: 'check the endpoint',
      },
      source: { kind: 'stack', location: 's3://bucket' },
    });
    fail = false;
    expect((await s.snapshot()).status).toBe(200);
  });

  it('answers the latest snapshot without reading again for every request', async () => {
    const src = source();
    const s = snapshotService({ open: async () => src, describe: src, refreshMs: 60_000 });
    service = s;
    const answers = await Promise.all([s.snapshot(), s.snapshot(), s.snapshot()]);
    expect(new Set(answers.map((a) => a.json)).size).toBe(1);
    await s.snapshot();
    expect(src.reads).toBe(1);
  });
});
