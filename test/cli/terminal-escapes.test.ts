/**
 * Text from elsewhere reaches the operator's terminal escaped (issue 22, item 9): a CA's
 * problem detail (here a fault proxy in front of Pebble answers newOrder with one full of
 * terminal escapes) in `issue`'s error and in `list`'s last error, and an agent's lastError
 * in `agent status`. `--json` keeps the exact text, as JSON escapes it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeState } from '../../agent/state.js';
import { type FaultProxy, startPebbleFaultProxy } from '../support/acme-fault-proxy.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';

/** Sets the window title, clears the screen, returns to the line start and overwrites it. */
const HOSTILE = 'evil \u001b]0;owned\u0007\u001b[2J\r\u009b31mFAKE OK \u202eReversed';
const ESCAPED = 'evil \\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u009b31mFAKE OK \\u202eReversed';

/** Any control character but the line feed, or a bidi override: what must not reach a terminal raw. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminal escapes in human output', () => {
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-escapes-'));
  let proxy: FaultProxy;

  beforeAll(async () => {
    proxy = await startPebbleFaultProxy();
    proxy.setFault({ kind: 'status', status: 503, match: /order-plz/, detail: HOSTILE });
  });
  afterAll(async () => {
    await proxy?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("a CA's problem detail: issue's error and list's last error escaped, list --json exact", async () => {
    const out = join(work, 'out');
    const issue = await certkeeper(
      [
        'issue',
        '--directory-url',
        proxy.directoryUrl,
        '--ca-file',
        peers().pebble.caCertPath,
        '--ip',
        '127.0.0.1',
        '--http01-listen',
        '127.0.0.1:0',
        '--out',
        out,
      ],
      {},
    );
    expect(issue.code, issue.stderr).toBe(1);
    expect(issue.stderr).toContain(`issuance failed: ACME serverInternal: ${ESCAPED}`);
    expect(issue.stderr).not.toMatch(RAW_CONTROL);

    const list = await certkeeper(['list', '--out', out], {});
    expect(list.stdout).toContain(`ACME serverInternal: ${ESCAPED}`);
    expect(list.stdout).not.toMatch(RAW_CONTROL);
    const listed = json<{ lastError: { detail: string } }[]>(
      await certkeeper(['list', '--out', out, '--json'], {}),
    );
    expect(listed[0]!.lastError.detail).toBe(`ACME serverInternal: ${HOSTILE}`);
  });

  it("an agent's lastError: agent status escaped, --json exact", async () => {
    const dir = join(work, 'agent');
    const config = join(work, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        bucket: 'escapes-test-bucket',
        stateFile: join(dir, 'state.json'),
        certificates: { web: { fullchain: join(dir, 'web.pem'), key: join(dir, 'web.key') } },
      }),
    );
    await writeState(join(dir, 'state.json'), {
      version: 1,
      certificates: { web: { lastCheck: new Date().toISOString(), lastError: HOSTILE } },
    });
    const status = await certkeeper(['agent', 'status', '--config', config], {});
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(`web: last error: ${ESCAPED}`);
    expect(status.stdout).not.toMatch(RAW_CONTROL);
    const exact = json<{ certificates: { lastError?: string }[] }>(
      await certkeeper(['agent', 'status', '--config', config, '--json'], {}),
    );
    expect(exact.certificates[0]!.lastError).toBe(HOSTILE);
  });
});
