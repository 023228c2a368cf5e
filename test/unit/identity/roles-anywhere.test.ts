/**
 * The Roles Anywhere client's pure parts: SigV4 canonicalisation (AWS's SigV4 test-suite
 * vectors), the X.509 signature, identity and target checks, and how each answer of the
 * service becomes an error that names the fix. The service itself is exercised against the
 * stand-in in test/integration/roles-anywhere-*.test.ts; here only faults no peer produces
 * (an endpoint that is not the service) get a tiny local server.
 */
import { X509Certificate, createHash, generateKeyPairSync, verify } from 'node:crypto';
import { type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { translateRefusal, type RefusedRequest } from '../../../shared/identity/roles-anywhere-errors.js';
import {
  amzDate,
  canonicalize,
  credentialScope,
  serialDecimal,
  signX509Request,
  signingAlgorithmFor,
  stringToSign,
  uriEncode,
} from '../../../shared/identity/roles-anywhere-signing.js';
import {
  createSession,
  prepareIdentity,
  type RolesAnywhereTarget,
} from '../../../shared/identity/roles-anywhere.js';
import { ManualClock } from '../../../shared/model/clock.js';
import {
  IntegrityError,
  NotFoundError,
  RetryLaterError,
  UnreachableError,
  ValidationError,
} from '../../../shared/model/errors.js';
import { selfSignedPair } from '../../../shared/pki/self-signed.js';
import { createAgentCa } from '../../support/agent-identity.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('SigV4 canonical request (AWS SigV4 test suite)', () => {
  const vanilla = {
    method: 'GET',
    path: '/',
    headers: [
      ['Host', 'example.amazonaws.com'],
      ['X-Amz-Date', '20150830T123600Z'],
    ] as [string, string][],
    body: '',
  };

  it('get-vanilla', () => {
    const { canonicalRequest, signedHeaders } = canonicalize({ ...vanilla, query: [] });
    expect(canonicalRequest).toBe(
      `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`,
    );
    expect(signedHeaders).toBe('host;x-amz-date');
    expect(sha256(canonicalRequest)).toBe('bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63');
  });

  it('get-vanilla-query-order-key-case', () => {
    const { canonicalRequest } = canonicalize({
      ...vanilla,
      query: [
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ],
    });
    expect(sha256(canonicalRequest)).toBe('816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0');
  });

  it('trims header values, makes runs of spaces one, joins repeated headers, skips User-Agent', () => {
    const { canonicalRequest, signedHeaders } = canonicalize({
      ...vanilla,
      query: [],
      headers: [
        ...vanilla.headers,
        ['My-Header1', '  value1  '],
        ['My-Header2', '"a   b   c"'],
        ['my-header1', 'value2'],
        ['User-Agent', 'anything'],
        ['Authorization', 'anything'],
      ],
    });
    expect(canonicalRequest).toContain('\nmy-header1:value1,value2\nmy-header2:"a b c"\n');
    expect(signedHeaders).toBe('host;my-header1;my-header2;x-amz-date');
  });

  it('encodes query names and values per RFC 3986 (ARNs: ":" and "/"), sorted', () => {
    const { canonicalRequest } = canonicalize({
      ...vanilla,
      query: [
        ['roleArn', 'arn:aws:iam::123456789012:role/a b'],
        ['profileArn', "x!'()*~"],
      ],
    });
    expect(canonicalRequest.split('\n')[2]).toBe(
      'profileArn=x%21%27%28%29%2A~&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b',
    );
    expect(uriEncode('a+b=c')).toBe('a%2Bb%3Dc');
  });

  it('dates and scopes as SigV4 writes them', () => {
    expect(amzDate(new Date('2021-11-03T12:00:00.123Z'))).toBe('20211103T120000Z');
    expect(credentialScope('20211103T120000Z', 'eu-west-1')).toBe(
      '20211103/eu-west-1/rolesanywhere/aws4_request',
    );
    expect(stringToSign('AWS4-X509-RSA-SHA256', '20211103T120000Z', 'scope', 'canonical')).toBe(
      `AWS4-X509-RSA-SHA256\n20211103T120000Z\nscope\n${sha256('canonical')}`,
    );
  });
});

describe('the X.509 signature', () => {
  const request = {
    method: 'POST',
    path: '/sessions',
    query: [['profileArn', 'p']] as [string, string][],
    headers: [
      ['host', 'rolesanywhere.us-east-1.amazonaws.com'],
      ['x-amz-date', '20211103T120000Z'],
    ] as [string, string][],
    body: '{}',
  };

  it('ECDSA (DER) and RSA (PKCS #1 v1.5) over SHA-256 of the string to sign; decimal serial in Credential', async () => {
    const ca = await createAgentCa('unit');
    const identity = await ca.issue('web-1');
    const certificate = new X509Certificate(identity.certificatePem);
    const prepared = prepareIdentity({
      certificatePem: identity.certificatePem,
      privateKey: identity.keyPem,
    });
    expect(prepared.algorithm).toBe('AWS4-X509-ECDSA-SHA256');
    const signed = signX509Request(request, prepared, '20211103T120000Z', 'us-east-1');
    const decimal = BigInt(`0x${identity.serialHex}`).toString(10);
    expect(serialDecimal(certificate)).toBe(decimal);
    expect(signed.authorization).toMatch(
      new RegExp(
        `^AWS4-X509-ECDSA-SHA256 Credential=${decimal}/20211103/us-east-1/rolesanywhere/aws4_request, SignedHeaders=host;x-amz-date, Signature=[0-9a-f]+$`,
      ),
    );
    const signature = Buffer.from(signed.authorization.split('Signature=')[1]!, 'hex');
    expect(
      verify(
        'sha256',
        Buffer.from(signed.stringToSign),
        { key: certificate.publicKey, dsaEncoding: 'der' },
        signature,
      ),
    ).toBe(true);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(signingAlgorithmFor(rsa.privateKey)).toBe('AWS4-X509-RSA-SHA256');
  });

  it('refuses key types Roles Anywhere does not take, a key of another certificate, and says neither key', async () => {
    const ca = await createAgentCa('unit');
    const [a, b] = await Promise.all([ca.issue('a-1'), ca.issue('b-1')]);
    expect(() => signingAlgorithmFor(generateKeyPairSync('ed25519').privateKey)).toThrow(/EC and RSA only/);
    const mismatch = () => prepareIdentity({ certificatePem: a.certificatePem, privateKey: b.keyPem });
    expect(mismatch).toThrow(ValidationError);
    expect(mismatch).toThrow(/privateKey: does not belong to the certificate \(serial \d+/);
    const garbage = `${b.keyPem.slice(0, 60)}broken${b.keyPem.slice(80)}`;
    const err = (() => {
      try {
        prepareIdentity({ certificatePem: a.certificatePem, privateKey: garbage });
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(err?.field).toBe('privateKey');
    expect(JSON.stringify({ message: err?.message, fix: err?.fix })).not.toContain(
      b.keyPem.split('\n')[1]!.slice(0, 20),
    );
    expect(() => prepareIdentity({ certificatePem: 'not a certificate', privateKey: a.keyPem })).toThrow(
      /certificatePem: is not an X.509 certificate/,
    );
  });
});

describe('target checks', () => {
  const good: RolesAnywhereTarget = {
    region: 'eu-west-1',
    trustAnchorArn:
      'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/4f0d4c4e-8a0a-4a4a-9d1e-5f2b7c1a0b11',
    profileArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/0b6c6a1e-2c1d-4c8e-9a7e-1d3c5b7a9e21',
    roleArn: 'arn:aws:iam::123456789012:role/certkeeper-agent',
  };
  const identity = async () => {
    const id = await (await createAgentCa('unit')).issue('web-1');
    return { certificatePem: id.certificatePem, privateKey: id.keyPem };
  };
  const clock = new ManualClock('2026-01-01T00:00:00Z');

  it.each([
    [
      { trustAnchorArn: 'arn:aws:iam::123456789012:role/x' },
      /rolesAnywhere.trustAnchorArn: is not a trust anchor ARN/,
    ],
    [{ durationSeconds: 60 }, /rolesAnywhere.durationSeconds/],
    [{ endpoint: 'http://127.0.0.1:1' }, /rolesAnywhere.endpoint: must be an https:\/\/ URL/],
    [{ region: 'us-east-1' }, /rolesAnywhere.trustAnchorArn: is in eu-west-1, not in region us-east-1/],
  ])('refuses %j', async (change, message) => {
    await expect(createSession(await identity(), { ...good, ...change }, { clock })).rejects.toThrow(message);
  });
});

describe('answers that are not credentials', () => {
  const refused: RefusedRequest = {
    endpoint: 'https://rolesanywhere.us-east-1.amazonaws.com',
    trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t',
    profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/p',
    roleArn: 'arn:aws:iam::123456789012:role/r',
    serial: '1234',
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2026-01-08T00:00:00Z'),
    sentAt: new Date('2026-01-02T00:10:00Z'),
  };
  const denied = (message: string) =>
    translateRefusal(
      { status: 403, errorType: 'AccessDeniedException', message, retryAfterSeconds: undefined },
      refused,
    );

  it('clock skew, with how much when the service states its time, and NTP as the fix', () => {
    const ahead = denied(
      'Signature not yet current: 20260102T001000Z is still later than 20260102T000500Z (20260102T000000Z + 5 min.)',
    );
    expect(ahead).toMatchObject({ reason: 'clock-skew', field: 'clock', skewMs: 600_000 });
    expect(ahead.message).toContain('off by about 600 s (ahead of AWS)');
    expect(ahead.fix).toContain('NTP');
    const behind = denied(
      'Signature expired: 20260102T001000Z is now earlier than 20260102T001500Z (20260102T002000Z - 5 min.)',
    );
    expect(behind).toMatchObject({ reason: 'clock-skew', skewMs: -600_000 });
    expect(denied('Request time is too skewed')).toMatchObject({ reason: 'clock-skew', skewMs: undefined });
  });

  it.each([
    ['Certificate revoked', 'certificate-revoked', /revocation list/],
    ['Untrusted signing certificate', 'certificate-untrusted', /does not chain to the CA of trust anchor/],
    ['Certificate expired', 'certificate-expired', /expired at 2026-01-08T00:00:00.000Z/],
    ['Certificate not yet valid', 'certificate-not-yet-valid', /valid only from 2026-01-01T00:00:00.000Z/],
    ['Invalid signature', 'signature-invalid', /did not verify/],
    ['Role is not associated with the profile', 'not-authorized', /is not granted through profile/],
  ])('%s', (message, reason, text) => {
    const err = denied(message);
    expect(err).toMatchObject({ reason, serviceMessage: message, retryable: false });
    expect(err.message).toMatch(text);
    // Which identity was refused (the role and profile, when it is the authorization).
    expect(err.message).toContain(reason === 'not-authorized' ? refused.roleArn : 'certificate serial 1234');
    expect(err.fix).toBeTruthy();
  });

  it('not found, throttled, server faults, invalid requests', () => {
    const answer = (status: number, errorType: string | undefined, retryAfterSeconds?: number) =>
      translateRefusal({ status, errorType, message: 'm', retryAfterSeconds }, refused);
    expect(answer(404, 'ResourceNotFoundException')).toBeInstanceOf(NotFoundError);
    const throttled = answer(429, 'ThrottlingException', 30);
    expect(throttled).toBeInstanceOf(RetryLaterError);
    expect((throttled as RetryLaterError).retryAt.toISOString()).toBe('2026-01-02T00:10:30.000Z');
    expect(answer(503, undefined)).toMatchObject({ retryable: true });
    expect(answer(503, undefined)).toBeInstanceOf(UnreachableError);
    expect(answer(400, 'ValidationException')).toBeInstanceOf(ValidationError);
  });
});

describe('an endpoint that is not the service', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((done) => (server ? server.close(done) : done(undefined)));
    server = undefined;
  });

  async function serve(status: number, body: string): Promise<{ endpoint: string; caPem: string }> {
    const now = Date.now();
    const tls = await selfSignedPair({
      identifiers: ['127.0.0.1'],
      name: 'CN=not-rolesanywhere',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
      extensions: [],
    });
    server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status, { 'content-type': 'text/html' }).end(body));
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    return { endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caPem: tls.certPem };
  }

  const session = async (endpoint: string, caPem?: string, signal?: AbortSignal) => {
    const ca = await createAgentCa('unit');
    const id = await ca.issue('web-1');
    return createSession(
      { certificatePem: id.certificatePem, privateKey: id.keyPem },
      {
        region: 'us-east-1',
        endpoint,
        caPem,
        trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t-1',
        profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/p-1',
        roleArn: 'arn:aws:iam::123456789012:role/r',
      },
      { clock: new ManualClock(Date.now()), signal },
    );
  };

  it('a captive portal answering 201 with HTML, or JSON without credentials: malformed', async () => {
    const portal = await serve(201, '<html>log in first</html>');
    await expect(session(portal.endpoint, portal.caPem)).rejects.toThrow(IntegrityError);
    await expect(session(portal.endpoint, portal.caPem)).rejects.toThrow(/malformed body: not JSON/);
    server!.closeAllConnections();
    await new Promise((done) => server!.close(done));
    const empty = await serve(201, '{"credentialSet":[]}');
    await expect(session(empty.endpoint, empty.caPem)).rejects.toThrow(
      /malformed body: credentialSet: holds no credentials/,
    );
  });

  it('a TLS certificate nobody vouches for, and nothing listening: unreachable', async () => {
    const untrusted = await serve(201, '{}');
    const tlsErr = await session(untrusted.endpoint).catch((e: unknown) => e);
    expect(tlsErr).toBeInstanceOf(UnreachableError);
    expect((tlsErr as Error).message).toMatch(/its TLS certificate is not trusted/);
    const port = (server!.address() as AddressInfo).port;
    server!.closeAllConnections();
    await new Promise((done) => server!.close(done));
    server = undefined;
    const refusedErr = await session(`https://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(refusedErr).toBeInstanceOf(UnreachableError);
    expect((refusedErr as Error).message).toContain('connection refused');
  });

  it("the caller's abort comes back as an abort, not as an unreachable endpoint", async () => {
    const slow = await serve(201, '{}');
    const err = await session(slow.endpoint, slow.caPem, AbortSignal.abort()).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(err).not.toBeInstanceOf(UnreachableError);
  });
});
