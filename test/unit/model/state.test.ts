import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { certificateEventSchema } from '../../../shared/model/event.js';
import { parseNotification } from '../../../shared/events/notification.js';
import { FileInventory } from '../../../shared/inventory/file.js';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { ManualClock } from '../../../shared/model/clock.js';
import { type CertificateState, certificateStateSchema } from '../../../shared/model/state.js';

// The state as the first release stored it: no ARI, no due index, no ACM, no alerts.
const firstReleaseState = {
  status: 'valid',
  current: {
    serial: '03AB',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2026-04-01T00:00:00.000Z',
    manifestKey: 'certificates/web/current.json',
  },
  attempts: 0,
  lastSuccessAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

// Everything the state holds today.
const fullState: CertificateState = {
  status: 'failing',
  current: {
    serial: '04CD',
    notBefore: '2026-02-01T00:00:00.000Z',
    notAfter: '2026-02-08T16:00:00.000Z',
    manifestKey: 'certificates/web/current.json',
    certId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.BM1',
    profile: 'shortlived',
  },
  ari: {
    certId: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.BM1',
    windowStart: '2026-02-05T00:00:00.000Z',
    windowEnd: '2026-02-06T00:00:00.000Z',
    selectedAt: '2026-02-05T10:00:00.000Z',
    explanationURL: 'https://ca.example/why',
    lastPolledAt: '2026-02-03T00:00:00.000Z',
    nextPollAt: '2026-02-03T06:00:00.000Z',
    lastError: 'timeout',
  },
  alertsSent: { serial: '04CD', kinds: ['third'] },
  reissue: true,
  dueAt: '2026-02-03T06:00:00.000Z',
  attempts: 12,
  lastError: {
    code: 'acme-problem',
    type: 'urn:ietf:params:acme:error:rateLimited',
    detail: 'slow down',
    at: '2026-02-03T00:00:00.000Z',
  },
  nextAttemptAt: '2026-02-03T06:00:00.000Z',
  lastSuccessAt: '2026-02-01T00:00:00.000Z',
  orderUrl: 'https://ca.example/order/1',
  acm: {
    'eu-west-1': {
      arn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      serial: '04CD',
      keyType: 'ecdsa-p256',
      importedAt: '2026-02-01T00:01:00.000Z',
      attemptedAt: '2026-02-01T00:01:00.000Z',
    },
    'us-east-1': {
      error: 'quota',
      attemptedAt: '2026-02-01T00:01:00.000Z',
      failures: 2,
      retryAt: '2026-02-01T00:03:00.000Z',
    },
  },
  updatedAt: '2026-02-03T00:00:00.000Z',
};

describe('certificateStateSchema', () => {
  it('reads the state as the first release stored it', () => {
    expect(certificateStateSchema.parse(firstReleaseState)).toEqual(firstReleaseState);
  });

  it('keeps every field of today’s state through JSON', () => {
    expect(certificateStateSchema.parse(JSON.parse(JSON.stringify(fullState)))).toEqual(fullState);
  });

  it('drops fields it does not know, at every level, instead of calling the record corrupted', () => {
    const newer = {
      ...fullState,
      future: { anything: true },
      current: { ...fullState.current, future: 1 },
      ari: { ...fullState.ari, future: 1 },
      acm: { 'eu-west-1': { ...fullState.acm!['eu-west-1']!, future: 1 } },
    };
    const parsed = certificateStateSchema.parse(newer);
    expect(parsed).not.toHaveProperty('future');
    expect(parsed.current).not.toHaveProperty('future');
    expect(parsed.ari).not.toHaveProperty('future');
    expect(parsed.acm!['eu-west-1']).toEqual(fullState.acm!['eu-west-1']);
  });

  it('still refuses what no writer ever stored', () => {
    expect(certificateStateSchema.safeParse({ ...firstReleaseState, status: 'lost' }).success).toBe(false);
    expect(certificateStateSchema.safeParse({ ...firstReleaseState, attempts: -1 }).success).toBe(false);
    expect(certificateStateSchema.safeParse({ ...firstReleaseState, updatedAt: 'yesterday' }).success).toBe(
      false,
    );
  });
});

describe('a stored record of the first release, read by the file inventory', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'certkeeper-state-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('loads, with the unknown keys a newer writer left dropped', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const lock = new FileLeaseLock({ dir: join(root, 'locks'), clock });
    const inventory = new FileInventory({ dir: join(root, 'inventory'), lock });
    const spec = {
      name: 'web',
      identifiers: [{ type: 'dns', value: 'web.example.com' }],
      challenge: 'dns-01',
      keyType: 'ecdsa-p256',
    };
    await mkdir(join(root, 'inventory'), { recursive: true });
    await writeFile(
      join(root, 'inventory', 'web.json'),
      JSON.stringify({ spec, state: { ...firstReleaseState, writtenBy: 'v9' }, note: 'by hand' }),
    );
    const record = await inventory.get('web');
    expect(record?.state).toEqual(firstReleaseState);
    expect(record?.spec).toMatchObject(spec);
  });
});

describe('the certificate event', () => {
  const minimal = {
    type: 'certificate.renewed',
    certificate: 'web',
    identifiers: ['web.example.com'],
    at: '2026-02-01T00:00:00.000Z',
  };

  it('reads an event from an older publisher, and one with fields it does not know', () => {
    expect(certificateEventSchema.parse(minimal)).toEqual(minimal);
    const parsed = parseNotification(JSON.stringify({ ...minimal, serial: '04CD', shard: 7 }));
    expect(parsed).toEqual({ kind: 'certificate', event: { ...minimal, serial: '04CD' } });
  });

  it('reads the event inside the envelope SNS adds without raw delivery', () => {
    const envelope = { Type: 'Notification', MessageId: 'm-1', Message: JSON.stringify(minimal) };
    expect(parseNotification(JSON.stringify(envelope))).toEqual({ kind: 'certificate', event: minimal });
  });
});
