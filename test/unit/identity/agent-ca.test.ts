/**
 * The agents' CA as a verifier sees it: openssl (a real X.509 implementation, not ours)
 * verifies the CA certificate, an agent certificate and the CRL, and finds a revoked serial
 * revoked; node's X509Certificate reads the fields Roles Anywhere relies on. And the CSR
 * checks refuse each kind of bad request with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentCsr } from '../../../shared/identity/agent-csr.js';
import { CSR_MAX_BYTES, checkAgentCsr } from '../../../shared/identity/csr-check.js';
import { LocalCaSigner } from '../../../shared/identity/signer.js';
import {
  agentCertificate,
  caCertificate,
  certificateRevocationList,
  newSerial,
  serialOf,
} from '../../../shared/identity/x509.js';
import { checkRenewal, newAgentRecord } from '../../../shared/agents/records.js';
import { agentRecordSchema, canonicalSerial } from '../../../shared/model/agent.js';
import { ValidationError } from '../../../shared/model/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'certkeeper-agent-ca-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const signer = new LocalCaSigner(ecKey());
const now = new Date();
const hour = 3_600_000;

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the agents CA', () => {
  it('signs a CA certificate, agent certificates and a CRL that openssl verifies', async () => {
    const ca = await caCertificate(signer, {
      commonName: 'certkeeper agents test',
      notBefore: new Date(now.getTime() - hour),
      notAfter: new Date(now.getTime() + 24 * hour),
    });
    const key = ecKey();
    const csr = checkAgentCsr(agentCsr('web-7', key), 'web-7');
    const serial = newSerial();
    const agent = await agentCertificate(signer, ca, {
      agent: 'web-7',
      subjectKey: csr.publicKey,
      serial,
      notBefore: new Date(now.getTime() - 5 * 60_000),
      notAfter: new Date(now.getTime() + 2 * hour),
    });
    const revokedSerial = newSerial();
    const crl = await certificateRevocationList(signer, ca, {
      number: 7,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + hour),
      revoked: [{ serial: revokedSerial, at: now }],
    });
    writeFileSync(join(dir, 'ca.pem'), ca);
    writeFileSync(join(dir, 'agent.pem'), agent);
    writeFileSync(join(dir, 'crl.pem'), crl);

    const verified = openssl([
      'verify',
      '-CAfile',
      join(dir, 'ca.pem'),
      '-crl_check',
      '-CRLfile',
      join(dir, 'crl.pem'),
      '-purpose',
      'sslclient',
      join(dir, 'agent.pem'),
    ]);
    expect(verified.out).toContain('agent.pem: OK');
    expect(verified.status).toBe(0);
    expect(openssl(['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text']).out).toMatch(/CRL Number: \s*7/);

    const parsed = new X509Certificate(agent);
    expect(parsed.subject).toBe('O=certkeeper\nCN=web-7');
    expect(parsed.issuer).toBe('O=certkeeper\nCN=certkeeper agents test');
    expect(parsed.ca).toBe(false);
    expect(parsed.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(serialOf(agent)).toBe(serial);
    expect(parsed.verify(new X509Certificate(ca).publicKey)).toBe(true);
    expect(parsed.checkPrivateKey(key)).toBe(true);
    expect(new X509Certificate(ca).ca).toBe(true);

    // The same agent certificate, once its serial is on the CRL: openssl refuses it.
    const crlRevoking = await certificateRevocationList(signer, ca, {
      number: 8,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + hour),
      revoked: [{ serial, at: now }],
    });
    writeFileSync(join(dir, 'crl-revoking.pem'), crlRevoking);
    const refused = openssl([
      'verify',
      '-CAfile',
      join(dir, 'ca.pem'),
      '-crl_check',
      '-CRLfile',
      join(dir, 'crl-revoking.pem'),
      join(dir, 'agent.pem'),
    ]);
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain('certificate revoked');

    // An empty CRL is still a valid CRL (no revokedCertificates at all, RFC 5280 §5.1.2.6).
    const empty = await certificateRevocationList(signer, ca, {
      number: 1,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + hour),
      revoked: [],
    });
    writeFileSync(join(dir, 'crl-empty.pem'), empty);
    expect(
      openssl(['crl', '-in', join(dir, 'crl-empty.pem'), '-CAfile', join(dir, 'ca.pem'), '-noout']).out,
    ).toContain('verify OK');
  });
});

describe('an agent certificate request', () => {
  const key = ecKey();
  const expectRefused = (pem: unknown, agent: string, message: RegExp) => {
    let error: unknown;
    try {
      checkAgentCsr(pem, agent);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('csr');
    expect((error as ValidationError).message).toMatch(message);
    expect((error as ValidationError).fix).toBeTruthy();
  };

  it('is accepted when well formed, for the agent it names', () => {
    expect(checkAgentCsr(agentCsr('edge-1', key), 'edge-1')).toMatchObject({
      commonName: 'edge-1',
      keyType: 'ecdsa-p256',
    });
  });

  it('is refused when malformed, oversized, or more than one', () => {
    expectRefused('not a csr', 'edge-1', /holds 0 PEM CERTIFICATE REQUEST blocks/);
    expectRefused(
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      'edge-1',
      /is not a PKCS#10 request/,
    );
    expectRefused(`${agentCsr('edge-1', key)}${' '.repeat(CSR_MAX_BYTES)}`, 'edge-1', /more than 8192/);
    expectRefused(agentCsr('edge-1', key) + agentCsr('edge-1', key), 'edge-1', /holds 2 PEM/);
    expectRefused(undefined, 'edge-1', /is missing/);
  });

  it('is refused for another name, or without a name', () => {
    expectRefused(agentCsr('edge-2', key), 'edge-1', /names CN="edge-2", not CN=edge-1/);
    const noCn = join(dir, 'no-cn.csr');
    writeFileSync(join(dir, 'k.pem'), key.export({ type: 'pkcs8', format: 'pem' }));
    execFileSync('openssl', [
      'req',
      '-new',
      '-key',
      join(dir, 'k.pem'),
      '-subj',
      '/O=certkeeper',
      '-out',
      noCn,
    ]);
    expectRefused(execFileSync('cat', [noCn], { encoding: 'utf8' }), 'edge-1', /names no CN, not CN=edge-1/);
  });

  it('is refused for a key type agents may not use', () => {
    const ed = join(dir, 'ed.pem');
    const edCsr = join(dir, 'ed.csr');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', ed]);
    execFileSync('openssl', ['req', '-new', '-key', ed, '-subj', '/CN=edge-1', '-out', edCsr]);
    expectRefused(execFileSync('cat', [edCsr], { encoding: 'utf8' }), 'edge-1', /signed with 1.3.101.112/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expectRefused(agentCsr('edge-1', small), 'edge-1', /carries a rsa1024 key; agents may use ecdsa-p256/);
  });

  it('is refused when the signature does not match the key it carries', () => {
    const pem = agentCsr('edge-1', key);
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0x01; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expectRefused(tampered, 'edge-1', /is not (signed by the key it carries|a PKCS#10 request)/);
    expect(() => createPrivateKey(key.export({ type: 'pkcs8', format: 'pem' }))).not.toThrow();
  });
});

describe('identity serials', () => {
  // One in eight random serials starts with a zero nibble; a certificate reads back without it.
  const padded = '0756424176' + '3e56ace931601cab206dd0';

  it('read back from a certificate as they were recorded, leading zero or not', async () => {
    const ca = await caCertificate(signer, {
      commonName: 'certkeeper agents test',
      notBefore: new Date(now.getTime() - hour),
      notAfter: new Date(now.getTime() + hour),
    });
    const csr = checkAgentCsr(agentCsr('web-7', ecKey()), 'web-7');
    const agent = await agentCertificate(signer, ca, {
      agent: 'web-7',
      subjectKey: csr.publicKey,
      serial: padded,
      notBefore: now,
      notAfter: new Date(now.getTime() + hour),
    });
    expect(serialOf(agent)).toBe('7564241763e56ace931601cab206dd0');
    expect(canonicalSerial(padded)).toBe(serialOf(agent));
    for (let i = 0; i < 256; i++) expect(newSerial()).toMatch(/^[1-9a-f][0-9a-f]*$/);
  });

  it('match a record written with a leading zero, so that agent can still renew', () => {
    const base = newAgentRecord('web-7', { certificates: ['web-7'], labels: {} }, 'cli', now);
    const stored = agentRecordSchema.parse({
      ...base,
      status: 'active',
      identity: {
        serial: padded,
        notBefore: now.toISOString(),
        notAfter: new Date(now.getTime() + hour).toISOString(),
        issuedAt: now.toISOString(),
      },
    });
    expect(stored.identity?.serial).toBe('7564241763e56ace931601cab206dd0');
    expect(checkRenewal(stored, 'web-7', '7564241763E56ACE931601CAB206DD0', now).name).toBe('web-7');
    expect(() => checkRenewal(stored, 'web-7', '7564241763e56ace931601cab206dd1', now)).toThrow(
      /not agent web-7's current identity/,
    );
  });
});
