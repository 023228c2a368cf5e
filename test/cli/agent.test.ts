/**
 * `certkeeper agent` as systemd runs it: a child process, its exit code and output. The
 * bucket is an endpoint nothing listens on, so these need no peers.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeState } from '../../agent/state.js';

const MAIN = new URL('../../cli/main.ts', import.meta.url).pathname;

let deadEndpoint: string;
beforeAll(async () => {
  // A port that was free a moment ago: connections to it are refused at once.
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  deadEndpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await new Promise((done) => server.close(done));
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { untilStderr?: RegExp; then?: NodeJS.Signals } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: {
        ...process.env,
        AWS_ENDPOINT_URL: deadEndpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_EC2_METADATA_DISABLED: 'true',
        CERTKEEPER_S3_FORCE_PATH_STYLE: 'true',
      },
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      out.stderr += d.toString();
      if (options.untilStderr?.test(out.stderr) && options.then) {
        child.kill(options.then);
        options.then = undefined;
      }
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, ...out }));
  });
}

function configFile(extra: Record<string, unknown> = {}): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-cli-'));
  const file = join(dir, 'agent.json');
  writeFileSync(
    file,
    JSON.stringify({
      bucket: 'cli-test-bucket',
      stateFile: 'state.json',
      certificates: {
        web: { fullchain: 'fullchain.pem', key: 'privkey.pem', identifiers: ['web.example.test'] },
      },
      ...extra,
    }),
  );
  return { dir, file };
}

describe('certkeeper agent', () => {
  it('documents its exit codes in --help', async () => {
    const run = await cli(['agent', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Exit codes:\n\s+0 .*\n[\s\S]*\n\s+1 .*\n[\s\S]*\n\s+2 /);
    expect(run.stdout).toContain('--fallback-self-signed');
  });

  it('exits 2 naming the file, field and fix for a bad config', async () => {
    const { file } = configFile({ pollIntervalSeconds: 'often' });
    const run = await cli(['agent', '--config', file, '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}: pollIntervalSeconds:`);
    expect(run.stderr).toContain('Fix:');
  });

  it('exits 2 on an unknown option or a missing --config', async () => {
    expect((await cli(['agent', '--nope'])).code).toBe(2);
    expect((await cli(['agent'])).code).toBe(2);
  });

  it('--once with the bucket unreachable exits 1; --fallback-self-signed writes the stand-in', async () => {
    const { dir, file } = configFile();
    const plain = await cli(['agent', '--config', file, '--once']);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^web +error *$/m);
    expect(plain.stdout).toMatch(/^web: .*unreachable.*Fix:/m);
    expect(existsSync(join(dir, 'fullchain.pem'))).toBe(false);

    const fallback = await cli(['agent', '--config', file, '--once', '--fallback-self-signed']);
    expect(fallback.code).toBe(1);
    expect(fallback.stdout).toMatch(/^web +fallback *$/m);
    expect(fallback.stderr).toMatch(/WARN !!! certificate web: SERVING A SELF-SIGNED FALLBACK/);
    expect(readFileSync(join(dir, 'fullchain.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it('stops cleanly on SIGTERM', async () => {
    const { file } = configFile({ pollIntervalSeconds: 3600 });
    const run = await cli(['agent', '--config', file], {
      untilStderr: /certificate web: error/,
      then: 'SIGTERM',
    });
    expect(run.stderr).toMatch(/SIGTERM received/);
    expect(run.stderr).toMatch(/agent stopped/);
    expect(run.code).toBe(0);
  });
});

describe('certkeeper agent status', () => {
  it('exits 0 when every certificate has more than a day left, 1 otherwise; --json and --prometheus', async () => {
    const { dir, file } = configFile({
      certificates: { a: { fullchain: 'a.pem', key: 'a.key' }, b: { fullchain: 'b.pem', key: 'b.key' } },
    });
    const inDays = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString();
    const entry = (notAfter: string) => ({
      serial: 'AB12',
      notAfter,
      installedAt: inDays(-1),
      lastCheck: inDays(0),
    });
    await writeState(join(dir, 'state.json'), {
      version: 1,
      certificates: { a: entry(inDays(30)), b: entry(inDays(20)) },
    });
    const ok = await cli(['agent', 'status', '--config', file, '--prometheus', join(dir, 'certkeeper.prom')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^NAME +STATUS +SERIAL +EXPIRES +LAST CHECK$/m);
    expect(ok.stdout).toMatch(/^a +ok +AB12 +in 29 d 23 h +\d+ min ago$/m);
    expect(readFileSync(join(dir, 'certkeeper.prom'), 'utf8')).toMatch(
      /^certkeeper_certificate_expiry_seconds\{name="b"\} \d+$/m,
    );

    await writeState(join(dir, 'state.json'), {
      version: 1,
      certificates: {
        a: entry(inDays(0.5)),
        b: { lastCheck: inDays(0), lastError: 'S3 is unreachable. Fix: check the network' },
      },
    });
    const attention = await cli(['agent', 'status', '--config', file, '--json']);
    expect(attention.code).toBe(1);
    const status = JSON.parse(attention.stdout) as {
      exitCode: number;
      certificates: { name: string; problem?: string }[];
    };
    expect(status.exitCode).toBe(1);
    expect(status.certificates.map((c) => [c.name, c.problem])).toEqual([
      ['a', 'expires in 11 h'],
      ['b', 'never installed'],
    ]);
  });

  it('exits 2 when the state file is damaged', async () => {
    const { dir, file } = configFile();
    writeFileSync(join(dir, 'state.json'), 'garbage');
    const run = await cli(['agent', 'status', '--config', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/state file .* is damaged\. Fix: delete it/);
  });
});
