/**
 * The IAM Roles Anywhere stand-in (scripts/peers/roles-anywhere/) made a faithful stand-in:
 * AWS's own client, aws_signing_helper v1.4.0 (installed with the peers), gets credentials
 * from it that work against moto, and is refused for what AWS refuses; certkeeper's signer
 * (shared/identity/roles-anywhere.ts) gets the same answers; and both build byte for byte
 * the canonical request the stand-in rebuilds, which the helper's own signature proves.
 * Every key and certificate is made at run time.
 */
import { spawn } from 'node:child_process';
import { X509Certificate, verify } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import {
  CreateTrustAnchorCommand,
  EnableCrlCommand,
  GetCrlCommand,
  ImportCrlCommand,
  ListCrlsCommand,
  ListProfilesCommand,
  ListTrustAnchorsCommand,
  type RolesAnywhereClient,
  UpdateCrlCommand,
} from '@aws-sdk/client-rolesanywhere';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SESSIONS_PATH,
  type RecordedRequest,
  type RolesAnywhereStandIn,
} from '../../scripts/peers/roles-anywhere/index.js';
import { MINUTE, type Clock } from '../../shared/model/clock.js';
import { RolesAnywhereRefusedError } from '../../shared/identity/roles-anywhere-errors.js';
import {
  createSession,
  prepareCreateSession,
  prepareIdentity,
  type RolesAnywhereTarget,
} from '../../shared/identity/roles-anywhere.js';
import { canonicalize, stringToSign, credentialScope } from '../../shared/identity/roles-anywhere-signing.js';
import {
  type AgentCa,
  type AgentIdentity,
  createAgentCa,
  writeIdentityFiles,
} from '../support/agent-identity.js';
import { peers } from '../../scripts/test-kit/peers.js';
import { OffsetClock, rolesAnywhereFixture } from '../support/roles-anywhere.js';
import { scratch } from '../support/scratch.js';

const realClock: Clock = { now: () => new Date() };

const work = scratch('roles-anywhere');
/** The service's clock, moved by the skew tests; everything else runs on real time. */
const serviceClock = new OffsetClock();
let standIn: RolesAnywhereStandIn;
let control: RolesAnywhereClient;
let ca: AgentCa;
let otherCa: AgentCa;
let target: RolesAnywhereTarget;
let identityDir: string;
let roleName: string;
let roleArn: string;

beforeAll(async () => {
  ({ standIn, control, ca, target, roleName } = await rolesAnywhereFixture(work, { clock: serviceClock }));
  roleArn = target.roleArn;
  otherCa = await createAgentCa('elsewhere');
  identityDir = work.tempDir('identities');
});

afterAll(() => work.cleanUp());

interface HelperRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `aws_signing_helper credential-process`, trusting the stand-in's TLS CA through SSL_CERT_FILE. */
function runHelper(identity: AgentIdentity, over: Partial<RolesAnywhereTarget> = {}): Promise<HelperRun> {
  const helper = peers().signingHelper;
  if (!helper) {
    throw new Error(
      'aws_signing_helper is not installed (AWS_SIGNING_HELPER unset): `npm run peers -- install` builds it with ' +
        'Go and a C compiler (cgo); peers started before it existed need `npm run peers -- stop` first',
    );
  }
  const files = writeIdentityFiles(join(identityDir, identity.serialHex), identity);
  const t = { ...target, ...over };
  const args = [
    'credential-process',
    '--certificate',
    files.certificate,
    '--private-key',
    files.privateKey,
    ...(files.intermediates ? ['--intermediates', files.intermediates] : []),
    '--trust-anchor-arn',
    t.trustAnchorArn,
    '--profile-arn',
    t.profileArn,
    '--role-arn',
    t.roleArn,
    '--endpoint',
    standIn.endpoint,
    '--region',
    t.region,
  ];
  return new Promise((resolveRun, reject) => {
    const child = spawn(helper, args, {
      env: { PATH: process.env.PATH, HOME: identityDir, SSL_CERT_FILE: standIn.caCertPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? 1, stdout, stderr }));
  });
}

const ours = (identity: AgentIdentity, clock: Clock = realClock) =>
  createSession(
    { certificatePem: identity.certificatePem, chainPem: identity.chainPem, privateKey: identity.keyPem },
    target,
    { clock },
  );

/** The refusal certkeeper's client raised, or a failure if it got credentials. */
async function oursRefused(identity: AgentIdentity, clock?: Clock): Promise<RolesAnywhereRefusedError> {
  const err: unknown = await ours(identity, clock).then(
    () => new Error('expected a refusal, got credentials'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RolesAnywhereRefusedError);
  return err as RolesAnywhereRefusedError;
}

async function helperRefused(identity: AgentIdentity): Promise<string> {
  const run = await runHelper(identity);
  expect(run.code, `the helper got credentials: ${run.stdout}`).not.toBe(0);
  expect(run.stdout).toBe('');
  return run.stderr;
}

/** The last CreateSession request the stand-in received. */
const lastRequest = (): RecordedRequest => standIn.requests().at(-1)!;

/** Sends a recorded request again, as is or changed, and returns the status and body. */
function replay(
  request: RecordedRequest,
  change: { header?: [string, (v: string) => string]; body?: Buffer } = {},
) {
  const headers = [...request.rawHeaders];
  const body = change.body ?? request.body;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (change.header && name === change.header[0]) headers[i + 1] = change.header[1](headers[i + 1]!);
    if (name === 'content-length') headers[i + 1] = String(body.length);
  }
  return new Promise<{ status: number; body: string }>((resolveReply, reject) => {
    const req = httpsRequest(
      new URL(request.url, standIn.endpoint),
      { method: request.method, headers, ca: standIn.caCertPem },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One hex digit of the signature changed. */
const flipSignatureByte = (authorization: string): string =>
  authorization.replace(/Signature=([0-9a-f])/, (_, c: string) => `Signature=${c === '0' ? '1' : '0'}`);

describe('the stand-in accepts what AWS accepts', () => {
  it("gives aws_signing_helper credentials that work against moto, with the session's principal tags", async () => {
    const identity = await ca.issue('web-7', { dnsName: 'web-7.fleet.test', subjectSuffix: 'OU=edge' });
    const run = await runHelper(identity);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as Record<string, string | number>;
    expect(output).toMatchObject({ Version: 1 });
    expect(Date.parse(String(output.Expiration))).toBeGreaterThan(Date.now() + 50 * MINUTE);

    const sts = new STSClient({
      endpoint: peers().motoEndpoint,
      region: 'us-east-1',
      credentials: {
        accessKeyId: String(output.AccessKeyId),
        secretAccessKey: String(output.SecretAccessKey),
        sessionToken: String(output.SessionToken),
      },
    });
    const caller = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    const sessionName = BigInt(`0x${identity.serialHex}`).toString(16);
    expect(caller.Arn).toBe(`arn:aws:sts::123456789012:assumed-role/${roleName}/${sessionName}`);

    const session = standIn.sessions().find((s) => s.accessKeyId === output.AccessKeyId);
    expect(session).toMatchObject({
      roleArn,
      roleSessionName: sessionName,
      sourceIdentity: 'web-7',
      serial: identity.serialDecimal,
      trustAnchorArn: target.trustAnchorArn,
      profileArn: target.profileArn,
      expiration: output.Expiration,
    });
    expect(session!.principalTags).toEqual({
      'x509Subject/CN': 'web-7',
      'x509Subject/OU': 'edge',
      'x509Issuer/CN': new X509Certificate(ca.certPem).subject.match(/CN=(.*)/)![1],
      'x509Issuer/O': 'certkeeper test',
      'x509SAN/DNS': 'web-7.fleet.test',
    });
  });

  it("gives certkeeper's signer credentials the same way, through an intermediate too", async () => {
    const identity = await ca.issue('db-1');
    const credentials = await ours(identity);
    const sts = new STSClient({ endpoint: peers().motoEndpoint, region: 'us-east-1', credentials });
    const caller = await sts.send(new GetCallerIdentityCommand({}));
    sts.destroy();
    expect(caller.Arn).toBe(
      `arn:aws:sts::123456789012:assumed-role/${roleName}/${BigInt(`0x${identity.serialHex}`).toString(16)}`,
    );
    expect(standIn.sessions().find((s) => s.accessKeyId === credentials.accessKeyId)?.sourceIdentity).toBe(
      'db-1',
    );

    // A CA with an intermediate: X-Amz-X509-Chain carries it; both clients are accepted.
    const layered = await createAgentCa('layered', { intermediate: true });
    const anchor = await control.send(
      new CreateTrustAnchorCommand({
        name: 'layered',
        enabled: true,
        source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: layered.certPem } },
      }),
    );
    const leaf = await layered.issue('api-2');
    const viaChain = { trustAnchorArn: anchor.trustAnchor!.trustAnchorArn! };
    const withChain = await createSession(
      { certificatePem: leaf.certificatePem, chainPem: leaf.chainPem, privateKey: leaf.keyPem },
      { ...target, ...viaChain },
      { clock: realClock },
    );
    expect(withChain.accessKeyId).toMatch(/^[A-Z0-9]{16,}$/);
    expect(lastRequest().rawHeaders.map((h) => h.toLowerCase())).toContain('x-amz-x509-chain');
    const helper = await runHelper(leaf, viaChain);
    expect(helper.stderr).toBe('');
    expect(helper.code).toBe(0);
    // Without the intermediate the leaf does not chain to the root: refused.
    const bare = await createSession(
      { certificatePem: leaf.certificatePem, privateKey: leaf.keyPem },
      { ...target, ...viaChain },
      { clock: realClock },
    ).catch((e: unknown) => e);
    expect((bare as RolesAnywhereRefusedError).reason).toBe('certificate-untrusted');
  });

  it('the sessions issued are readable by other processes at a path AWS does not use', async () => {
    const text = await new Promise<string>((resolveText, reject) =>
      httpsRequest(new URL(SESSIONS_PATH, standIn.endpoint), { ca: standIn.caCertPem }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolveText(body));
      })
        .on('error', reject)
        .end(),
    );
    const listed = (JSON.parse(text) as { sessions: { accessKeyId: string }[] }).sessions;
    expect(listed.map((s) => s.accessKeyId)).toEqual(standIn.sessions().map((s) => s.accessKeyId));
    expect(listed.length).toBeGreaterThanOrEqual(4);
  });
});

describe('both clients build the canonical request the stand-in rebuilds, byte for byte', () => {
  it("for aws_signing_helper's request: certkeeper's canonicalization verifies the helper's own signature", async () => {
    const identity = await ca.issue('edge-3');
    expect((await runHelper(identity)).code).toBe(0);
    const recorded = lastRequest();
    const url = new URL(recorded.url, standIn.endpoint);
    const headers: [string, string][] = [];
    for (let i = 0; i < recorded.rawHeaders.length; i += 2)
      headers.push([recorded.rawHeaders[i]!, recorded.rawHeaders[i + 1]!]);
    const authorization = headers.find(([name]) => name.toLowerCase() === 'authorization')![1];
    const date = headers.find(([name]) => name.toLowerCase() === 'x-amz-date')![1];
    // Go's transport adds Accept-Encoding and Transfer-Encoding after the helper signed:
    // the headers it signed are the ones its Authorization header lists.
    const signed = /SignedHeaders=([^,]+),/.exec(authorization)![1]!.split(';');
    expect(signed).toEqual(['content-type', 'host', 'x-amz-date', 'x-amz-x509']);
    const mine = canonicalize(
      {
        method: recorded.method,
        path: url.pathname,
        query: [...url.searchParams.entries()],
        headers,
        body: recorded.body,
      },
      signed,
    );
    expect(mine.signedHeaders).toBe(signed.join(';'));
    expect(mine.canonicalRequest).toBe(recorded.canonicalRequest);
    const text = stringToSign(
      'AWS4-X509-ECDSA-SHA256',
      date,
      credentialScope(date, target.region),
      mine.canonicalRequest,
    );
    expect(text).toBe(recorded.stringToSign);
    const signature = Buffer.from(/Signature=([0-9a-f]+)/.exec(authorization)![1]!, 'hex');
    const publicKey = new X509Certificate(identity.certificatePem).publicKey;
    expect(verify('sha256', Buffer.from(text), { key: publicKey, dsaEncoding: 'der' }, signature)).toBe(true);
    expect(authorization).toMatch(
      new RegExp(
        `^AWS4-X509-ECDSA-SHA256 Credential=${identity.serialDecimal}/\\d{8}/us-east-1/rolesanywhere/aws4_request, SignedHeaders=`,
      ),
    );
  });

  it("for certkeeper's request: what it signed is what the stand-in rebuilt", async () => {
    const identity = await ca.issue('edge-4');
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const frozen: Clock = { now: () => at };
    await ours(identity, frozen);
    const expected = prepareCreateSession(
      prepareIdentity({ certificatePem: identity.certificatePem, privateKey: identity.keyPem }),
      target,
      at,
    );
    expect(lastRequest().status).toBe(201);
    expect(lastRequest().canonicalRequest).toBe(expected.canonicalRequest);
    expect(lastRequest().stringToSign).toBe(expected.stringToSign);
    // Same shape as the helper's: the ARNs in the query, the duration in the body.
    expect(lastRequest().url).toMatch(/^\/sessions\?profileArn=.*&roleArn=.*&trustAnchorArn=/);
  });
});

describe('the stand-in refuses what AWS refuses, to both clients', () => {
  it('a captured request with one byte changed, replayed (the untouched replay passes)', async () => {
    for (const signer of ['helper', 'certkeeper'] as const) {
      const identity = await ca.issue(`replay-${signer}`);
      if (signer === 'helper') expect((await runHelper(identity)).code).toBe(0);
      else await ours(identity);
      const captured = lastRequest();
      expect(captured.status).toBe(201);

      expect((await replay(captured)).status, `${signer}: untouched replay`).toBe(201);
      const badSignature = await replay(captured, { header: ['authorization', flipSignatureByte] });
      expect(badSignature.status, signer).toBe(403);
      expect(JSON.parse(badSignature.body)).toEqual({ message: 'Invalid signature' });
      const body = Buffer.from(captured.body);
      body[body.length - 2] = body[body.length - 2]! ^ 0x01; // a digit of durationSeconds (or "{}")
      const badBody = await replay(captured, { body });
      expect(badBody.status, signer).toBe(403);
      expect(JSON.parse(badBody.body)).toEqual({ message: 'Invalid signature' });
    }
  });

  it('an expired certificate', async () => {
    const identity = await ca.issue('old-1', {
      notBefore: new Date(Date.now() - 48 * 60 * MINUTE),
      notAfter: new Date(Date.now() - 60 * MINUTE),
    });
    expect(await helperRefused(identity)).toContain('AccessDeniedException: Certificate expired');
    const err = await oursRefused(identity);
    expect(err.reason).toBe('certificate-expired');
    expect(err.describe()).toContain('expired at');
    expect(err.fix).toMatch(/enrol the agent again/);
  });

  it('a certificate not yet valid', async () => {
    const identity = await ca.issue('new-1', { notBefore: new Date(Date.now() + 60 * MINUTE) });
    expect(await helperRefused(identity)).toContain('AccessDeniedException: Certificate not yet valid');
    expect((await oursRefused(identity)).reason).toBe('certificate-not-yet-valid');
  });

  it('a certificate of another CA', async () => {
    const identity = await otherCa.issue('web-7');
    expect(await helperRefused(identity)).toContain('AccessDeniedException: Untrusted signing certificate');
    const err = await oursRefused(identity);
    expect(err.reason).toBe('certificate-untrusted');
    expect(err.message).toContain(target.trustAnchorArn);
  });

  it('a revoked certificate, once a CRL is imported and enabled (ImportCrl, EnableCrl, UpdateCrl)', async () => {
    const [removed, kept, later] = await Promise.all([
      ca.issue('gone-1'),
      ca.issue('kept-1'),
      ca.issue('gone-2'),
    ]);
    const imported = await control.send(
      new ImportCrlCommand({
        name: 'agents',
        trustAnchorArn: target.trustAnchorArn,
        crlData: Buffer.from(await ca.crl([removed.serialHex])),
      }),
    );
    // As on AWS, an imported CRL is disabled until enabled.
    expect(imported.crl?.enabled).toBe(false);
    await ours(removed);
    await control.send(new EnableCrlCommand({ crlId: imported.crl!.crlId! }));

    expect(await helperRefused(removed)).toContain('AccessDeniedException: Certificate revoked');
    const err = await oursRefused(removed);
    expect(err.reason).toBe('certificate-revoked');
    expect(err.message).toContain(`certificate serial ${removed.serialDecimal}`);
    expect((await runHelper(kept)).code).toBe(0);

    const updatedCrl = await ca.crl([removed.serialHex, later.serialHex]);
    await control.send(
      new UpdateCrlCommand({ crlId: imported.crl!.crlId!, crlData: Buffer.from(updatedCrl) }),
    );
    expect((await oursRefused(later)).reason).toBe('certificate-revoked');
    const listed = await control.send(new ListCrlsCommand({}));
    expect(listed.crls?.map((c) => [c.crlId, c.enabled])).toContainEqual([imported.crl!.crlId, true]);
    const got = await control.send(new GetCrlCommand({ crlId: imported.crl!.crlId! }));
    expect(Buffer.from(got.crl!.crlData!).toString()).toBe(updatedCrl);

    // A CRL signed by another CA is refused at import: it could revoke anyone.
    const forged = await control
      .send(
        new ImportCrlCommand({
          name: 'forged',
          trustAnchorArn: target.trustAnchorArn,
          enabled: true,
          crlData: Buffer.from(await otherCa.crl([kept.serialHex])),
        }),
      )
      .catch((e: Error) => e);
    expect((forged as Error).name).toBe('ValidationException');
  });

  it('a request signed more than 5 minutes away from the service clock', async () => {
    const identity = await ca.issue('skewed-1');
    // certkeeper's client with its clock 7 minutes ahead of the service.
    const err = await oursRefused(identity, { now: () => new Date(Date.now() + 7 * MINUTE) });
    expect(err.reason).toBe('clock-skew');
    expect(err.skewMs! / 1000).toBeGreaterThan(7 * 60 - 5);
    expect(err.skewMs! / 1000).toBeLessThan(7 * 60 + 5);
    expect(err.fix).toContain('NTP');
    expect(err.describe()).toMatch(/off by about 4\d\d s \(ahead of AWS\)/);
    // The helper signs with the real time: move the service's clock instead.
    serviceClock.offsetMs = 6 * MINUTE;
    try {
      expect(await helperRefused(identity)).toMatch(
        /AccessDeniedException: Signature expired: \d{8}T\d{6}Z is now earlier than/,
      );
      expect((await oursRefused(identity)).skewMs! / 1000).toBeLessThan(-6 * 60 + 5);
    } finally {
      serviceClock.offsetMs = 0;
    }
    // Within the allowance (4 minutes): accepted.
    await ours(identity, { now: () => new Date(Date.now() + 4 * MINUTE) });
  });

  it('a role the profile does not list, and a wrong profile', async () => {
    const identity = await ca.issue('web-8');
    const err = await createSession(
      { certificatePem: identity.certificatePem, privateKey: identity.keyPem },
      { ...target, roleArn: 'arn:aws:iam::123456789012:role/admin' },
      { clock: realClock },
    ).catch((e: unknown) => e);
    expect((err as RolesAnywhereRefusedError).reason).toBe('not-authorized');
    const missing = await createSession(
      { certificatePem: identity.certificatePem, privateKey: identity.keyPem },
      {
        ...target,
        profileArn: target.profileArn.replace(/profile\/.*/, 'profile/00000000-0000-0000-0000-000000000000'),
      },
      { clock: realClock },
    ).catch((e: unknown) => e);
    expect((missing as Error).constructor.name).toBe('NotFoundError');
  });
});

describe('the control plane, through @aws-sdk/client-rolesanywhere', () => {
  it('lists the trust anchors and profiles it created', async () => {
    const anchors = await control.send(new ListTrustAnchorsCommand({}));
    expect(anchors.trustAnchors?.map((a) => a.trustAnchorArn)).toContain(target.trustAnchorArn);
    expect(
      anchors.trustAnchors?.find((a) => a.trustAnchorArn === target.trustAnchorArn)?.source?.sourceData,
    ).toEqual({
      x509CertificateData: ca.certPem,
    });
    const profiles = await control.send(new ListProfilesCommand({}));
    expect(profiles.profiles?.find((p) => p.profileArn === target.profileArn)).toMatchObject({
      roleArns: [roleArn],
      durationSeconds: 3600,
      enabled: true,
    });
  });
});
