/**
 * The identity function against the peers (the registry in DynamoDB Local, the CA key in
 * moto's KMS, the deliver queue in moto's SQS), through its function URL event as Lambda
 * hands it over: a join, a renewal with the current identity, and every refusal, each with
 * its reason, its HTTP status and a fix, nothing written when refused.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as identity } from '../../functions/identity.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { newDeliveryKey } from '../../shared/agents/envelope.js';
import { parseEnrolmentToken } from '../../shared/agents/token.js';
import { agentCsr } from '../../shared/identity/agent-csr.js';
import { renewalPayload } from '../../shared/identity/protocol.js';
import { agentCertificate, newSerial } from '../../shared/identity/x509.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ManualClock, MINUTE, systemClock } from '../../shared/model/clock.js';
import { addAgent } from '../../shared/usecases/manage-agents.js';
import { receiveAll } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import {
  type AgentsStack,
  createAgentsStack,
  functionUrlEvent,
  pointAgentFunctionsAt,
} from '../../scripts/test-kit/agents.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { testAgentCa } from '../support/registry-agent.js';

let stack: StandInStack;
let agents: AgentsStack;
let registry: DynamoAgentRegistry;
const endpoint = { url: 'https://identity.example/', region: 'us-east-1' };

beforeAll(async () => {
  stack = await useStandInStack('identity');
  agents = await createAgentsStack(stack, { identitySeconds: 3600 });
  pointAgentFunctionsAt(agents);
  registry = new DynamoAgentRegistry({ client: stack.clients.dynamodb, tableName: stack.table });
});

afterAll(() => stack?.clients.s3.destroy());

interface Answer {
  status: number;
  body: {
    certificate?: string;
    caCertificate?: string;
    settings?: Record<string, string>;
    error?: { reason?: string; field?: string; message: string; fix?: string };
  };
}

async function call(body: unknown): Promise<Answer> {
  const out = (await identity(functionUrlEvent(typeof body === 'string' ? body : JSON.stringify(body)))) as {
    statusCode: number;
    body: string;
  };
  return { status: out.statusCode, body: JSON.parse(out.body) as Answer['body'] };
}

const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

/** An agent added with a token; what a server would send to join with it. */
async function added(name: string) {
  const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  const { token } = await addAgent({ registry, inventory, clock: systemClock }, endpoint, {
    name,
    selector: { certificates: ['site'], labels: {} },
  });
  const key = newKey();
  const join = {
    action: 'join',
    agent: name,
    token: parseEnrolmentToken(token).secret,
    csr: agentCsr(name, key),
    deliveryKey: newDeliveryKey().publicKeyDer,
  };
  return { token, key, join };
}

describe('joining', () => {
  it('issues a client certificate for the CSR, marks the token used, asks for a first delivery', async () => {
    const { key, join } = await added('join-ok');
    const answer = await call(join);
    expect(answer.status).toBe(200);
    const cert = new X509Certificate(answer.body.certificate!);
    expect(cert.subject).toBe('O=certkeeper\nCN=join-ok');
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(cert.verify(new X509Certificate(agents.caPem).publicKey)).toBe(true);
    expect(answer.body.settings).toMatchObject({
      bucket: stack.bucket,
      fleetTable: agents.fleetTable,
      trustAnchorArn: agents.trustAnchorArn,
    });
    const record = (await registry.get('join-ok'))!;
    expect(record).toMatchObject({
      status: 'active',
      identity: { serial: cert.serialNumber.toLowerCase().replace(/^0+/, '') },
    });
    expect(record.enrolment?.usedAt).toBeDefined();
    const queued = await receiveAll(stack.clients.sqs, agents.deliverQueueUrl);
    expect(queued.map((m) => m.Body)).toContain(JSON.stringify({ deliver: { agent: 'join-ok' } }));
  });

  it('refuses a token replayed: it worked once', async () => {
    const { join } = await added('replayed');
    expect((await call(join)).status).toBe(200);
    const again = await call({ ...join, csr: agentCsr('replayed', newKey()) });
    expect(again.status).toBe(403);
    expect(again.body.error).toMatchObject({ reason: 'token-used' });
    expect(again.body.error!.message).toMatch(/already used at .*; tokens work once/);
    expect(again.body.error!.fix).toBe('ask the operator for a new token: certkeeper agent token replayed');
  });

  it("refuses another agent's token, naming the agent it was tried for", async () => {
    const mine = await added('mine-1');
    await added('theirs-1');
    const answer = await call({ ...mine.join, agent: 'theirs-1', csr: agentCsr('theirs-1', newKey()) });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ reason: 'token-mismatch' });
    expect(answer.body.error!.message).toContain("not agent theirs-1's current enrolment token");
    expect((await registry.get('theirs-1'))!.status).toBe('pending');
  });

  it('refuses an expired token', async () => {
    const { join } = await added('late');
    pointAgentFunctionsAt(agents, new ManualClock(Date.now() + 2 * 60 * MINUTE));
    try {
      const answer = await call(join);
      expect(answer.status).toBe(403);
      expect(answer.body.error).toMatchObject({ reason: 'token-expired' });
    } finally {
      pointAgentFunctionsAt(agents);
    }
  });

  it('refuses a CSR for another name, a malformed one, an oversized one, and a key type agents may not use', async () => {
    const { join } = await added('csr-checks');
    const cases: [string, unknown, RegExp][] = [
      [
        'another name',
        { ...join, csr: agentCsr('someone-else', newKey()) },
        /names CN="someone-else", not CN=csr-checks/,
      ],
      [
        'malformed',
        { ...join, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' },
        /is not a PKCS#10 request/,
      ],
      ['oversized', { ...join, csr: agentCsr('csr-checks', newKey()) + ' '.repeat(9000) }, /more than 8192/],
      [
        'RSA 1024',
        {
          ...join,
          csr: agentCsr('csr-checks', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey),
        },
        /carries a rsa1024 key/,
      ],
    ];
    for (const [what, body, message] of cases) {
      const answer = await call(body);
      expect(answer.status, what).toBe(400);
      expect(answer.body.error, what).toMatchObject({ field: 'csr' });
      expect(answer.body.error!.message, what).toMatch(message);
    }
    // None of it spent the token: the right request still joins.
    expect((await call(join)).status).toBe(200);
  });

  it('refuses an agent name that is not a name, a body that is not JSON, and one over 16 KiB', async () => {
    const name = await call({ action: 'join', agent: '../etc', token: 'x', csr: 'x', deliveryKey: 'AAAA' });
    expect(name.status).toBe(400);
    expect(name.body.error!.message).toMatch(/is not an agent name/);
    expect((await call('{not json')).status).toBe(400);
    const huge = await call(JSON.stringify({ action: 'join', pad: 'x'.repeat(17 * 1024) }));
    expect(huge.status).toBe(400);
    expect(huge.body.error!.message).toMatch(/over 16384 bytes/);
  });

  it('refuses an unknown agent', async () => {
    const answer = await call({
      action: 'join',
      agent: 'nobody-here',
      token: 'x'.repeat(43),
      csr: 'x',
      deliveryKey: 'AAAA',
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ reason: 'unknown-agent' });
  });
});

describe('renewing an identity', () => {
  async function joined(name: string) {
    const { key, join } = await added(name);
    const answer = await call(join);
    expect(answer.status).toBe(200);
    return { key, certificate: answer.body.certificate! };
  }
  const renewal = (name: string, current: { key: KeyObject; certificate: string }, time = new Date()) => {
    const csr = agentCsr(name, newKey());
    const at = time.toISOString();
    return {
      action: 'renew',
      agent: name,
      csr,
      certificate: current.certificate,
      time: at,
      signature: sign(null, renewalPayload(name, at, csr), { key: current.key, dsaEncoding: 'der' }).toString(
        'base64',
      ),
    };
  };

  it('trades the current identity for the next, which becomes the current one', async () => {
    const current = await joined('renews');
    const answer = await call(renewal('renews', current));
    expect(answer.status).toBe(200);
    const next = new X509Certificate(answer.body.certificate!);
    expect((await registry.get('renews'))!.identity!.serial).toBe(
      next.serialNumber.toLowerCase().replace(/^0+/, ''),
    );
    // The old one is no longer the current identity: it cannot renew again.
    const stale = await call(renewal('renews', current));
    expect(stale.status).toBe(403);
    expect(stale.body.error).toMatchObject({ reason: 'not-current-identity' });
  });

  it('refuses a request signed by another key, and a certificate from another CA', async () => {
    const current = await joined('signs');
    const forged = {
      ...renewal('signs', current),
      signature: renewal('signs', { ...current, key: newKey() }).signature,
    };
    expect((await call(forged)).body.error!.message).toMatch(/not signed by the presented certificate's key/);
    // A certificate of the right name, from a CA certkeeper did not make.
    await joined('other-ca');
    const elsewhere = await testAgentCa();
    const key = newKey();
    const certificate = await agentCertificate(elsewhere.signer, elsewhere.pem, {
      agent: 'other-ca',
      subjectKey: createPublicKey(key).export({ type: 'spki', format: 'der' }),
      serial: newSerial(),
      notBefore: new Date(Date.now() - MINUTE),
      notAfter: new Date(Date.now() + 60 * MINUTE),
    });
    const foreign = await call(renewal('other-ca', { key, certificate }));
    expect(foreign.status).toBe(403);
    expect(foreign.body.error!.message).toMatch(/is not from this CA/);
  });

  it('refuses a clock-skewed request, saying by how much and how to fix it', async () => {
    const current = await joined('skewed');
    const answer = await call(renewal('skewed', current, new Date(Date.now() + 2 * 60 * MINUTE)));
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ reason: 'clock-skew' });
    expect(answer.body.error!.message).toMatch(/is 7\d{3} s ahead of the CA's clock/);
    expect(answer.body.error!.fix).toMatch(/NTP/);
  });

  it('refuses a removed agent', async () => {
    const current = await joined('gone');
    const { removeAgent } = await import('../../shared/usecases/manage-agents.js');
    await removeAgent({ registry, clock: systemClock }, 'gone');
    const answer = await call(renewal('gone', current));
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ reason: 'removed' });
  });
});
