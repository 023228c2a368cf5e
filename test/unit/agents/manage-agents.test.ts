/**
 * The operator's side of the registry on local mode's file adapters (real files, no
 * mocks): each kind of bad input refused with the field and the fix before anything is
 * written, a selector that matches nothing today warned about, and the token rules.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileAgentRegistry } from '../../../shared/agents/file.js';
import { parseEnrolmentToken, tokenSha256 } from '../../../shared/agents/token.js';
import { FileInventory } from '../../../shared/inventory/file.js';
import { FileLeaseLock } from '../../../shared/lock/file.js';
import { parseSelector } from '../../../shared/model/agent.js';
import { DAY, ManualClock } from '../../../shared/model/clock.js';
import { ConflictError, ValidationError } from '../../../shared/model/errors.js';
import { parseLabelPairs } from '../../../shared/model/labels.js';
import { parseCertificateSpec } from '../../../shared/model/spec.js';
import { declareSpec } from '../../../shared/usecases/declare-certificates.js';
import { addAgent, issueToken, removeAgent } from '../../../shared/usecases/manage-agents.js';

const ENDPOINT = { url: 'https://identity.example.test/', region: 'eu-west-1' };

let root: string;
let clock: ManualClock;
let registry: FileAgentRegistry;
let inventory: FileInventory;
const deps = () => ({ registry, inventory, clock });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-manage-agents-'));
  clock = new ManualClock(Date.parse('2026-12-07T08:00:00Z'));
  registry = new FileAgentRegistry({ dir: join(root, 'registry') });
  inventory = new FileInventory({
    dir: join(root, 'inventory'),
    lock: new FileLeaseLock({ dir: join(root, 'locks'), clock }),
  });
  await declareSpec(
    inventory,
    parseCertificateSpec({ name: 'edge', identifiers: ['edge.example.com'], labels: { role: 'edge' } }),
    clock,
  );
});

afterEach(() => rm(root, { recursive: true, force: true }));

/** The ValidationError `run` throws: the field it names and its message. */
function refusal(run: () => unknown): { field: string; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { field: (error as ValidationError).field, message: (error as Error).message };
  }
  throw new Error('expected a ValidationError');
}

describe('adding an agent', () => {
  it('refuses a name that is not an agent name, writing nothing', async () => {
    for (const name of ['Web_7', '-web', 'web 7', 'a'.repeat(64), '../etc']) {
      await expect(
        addAgent(deps(), ENDPOINT, { name, selector: { certificates: ['edge'], labels: {} } }),
      ).rejects.toThrow(/is not an agent name/);
    }
    expect(await registry.list()).toEqual([]);
  });

  it('refuses a label that is not a label, naming it and the form', () => {
    expect(refusal(() => parseLabelPairs(['role'], '--labels'))).toMatchObject({
      field: '--labels',
      message: expect.stringContaining('"role" is not key=value'),
    });
    expect(refusal(() => parseLabelPairs(['Role Name=edge'], '--labels')).message).toContain(
      '"Role Name" is not a label key',
    );
    expect(refusal(() => parseLabelPairs(['role=edge/1'], '--labels')).field).toBe('--labels.role');
    expect(refusal(() => parseLabelPairs(['role=edge,role=web'], '--labels')).message).toContain(
      '"role" is given twice',
    );
    expect(refusal(() => parseSelector({}, 'selector')).message).toContain('selects nothing');
  });

  it('warns about a selector that matches nothing today, and not about one that does', async () => {
    const lonely = await addAgent(deps(), ENDPOINT, {
      name: 'web-7',
      selector: parseSelector({ certificates: ['web-7'], labels: { role: 'web' } }, 'selector'),
    });
    expect(lonely.warnings).toEqual([
      'no certificate is declared as web-7 (yet)',
      'the selector (certificates web-7; labels role=web) matches no certificate today; the agent receives what matches once it is declared',
    ]);
    expect(lonely.record.status).toBe('pending');

    const edge = await addAgent(deps(), ENDPOINT, {
      name: 'edge-1',
      selector: parseSelector({ labels: { role: 'edge' } }, 'selector'),
    });
    expect(edge.warnings).toEqual([]);
  });

  it('refuses to add a name twice, and brings a removed agent back with a new token', async () => {
    const selector = { certificates: ['edge'], labels: {} };
    await addAgent(deps(), ENDPOINT, { name: 'edge-1', selector });
    await expect(addAgent(deps(), ENDPOINT, { name: 'edge-1', selector })).rejects.toBeInstanceOf(
      ConflictError,
    );
    await removeAgent({ registry, clock }, 'edge-1');
    expect((await registry.get('edge-1'))?.status).toBe('removed');

    const back = await addAgent(deps(), ENDPOINT, { name: 'edge-1', selector });
    expect(back.record.status).toBe('pending');
    expect(back.record.enrolment?.tokenSha256).toBe(tokenSha256(parseEnrolmentToken(back.token).secret));
  });
});

describe('tokens', () => {
  it('name the endpoint, the region and the agent; only their SHA-256 is stored', async () => {
    const added = await addAgent(deps(), ENDPOINT, {
      name: 'edge-1',
      selector: { certificates: ['edge'], labels: {} },
    });
    const token = parseEnrolmentToken(added.token);
    expect(token).toMatchObject({ url: ENDPOINT.url, region: 'eu-west-1', agent: 'edge-1' });
    expect(token.expiresAt).toBe('2026-12-07T09:00:00.000Z');
    const stored = JSON.stringify(await registry.get('edge-1'));
    expect(stored).not.toContain(token.secret);
    expect(stored).toContain(tokenSha256(token.secret));
  });

  it('a new token replaces the unused one; a life over 7 days or under a minute is refused', async () => {
    const added = await addAgent(deps(), ENDPOINT, {
      name: 'edge-1',
      selector: { certificates: ['edge'], labels: {} },
    });
    const next = await issueToken({ registry, clock }, ENDPOINT, { name: 'edge-1', tokenTtlMs: DAY });
    expect(next.record.enrolment?.tokenSha256).not.toBe(added.record.enrolment?.tokenSha256);
    expect(next.expiresAt).toBe('2026-12-08T08:00:00.000Z');

    for (const tokenTtlMs of [8 * DAY, 1000]) {
      await expect(issueToken({ registry, clock }, ENDPOINT, { name: 'edge-1', tokenTtlMs })).rejects.toThrow(
        ValidationError,
      );
    }
    expect((await registry.get('edge-1'))?.enrolment?.tokenSha256).toBe(next.record.enrolment?.tokenSha256);
    await expect(issueToken({ registry, clock }, ENDPOINT, { name: 'web-9' })).rejects.toThrow(
      /agent web-9 is not in the registry/,
    );
  });
});
