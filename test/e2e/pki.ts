/**
 * Throwaway certificates for the agent's end-to-end tests, made with openssl at run time
 * (nothing secret is committed). `openssl ca` is used because it is the one OpenSSL 3.0
 * command that takes explicit validity dates, which an already expired certificate needs.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../../shared/pki/index.js';
import { execOk } from '../../scripts/peers/util.js';

export interface SelfSigned {
  cert: string;
  key: string;
  /** Upper-case hex, as manifests and X509Certificate write it. */
  serial: string;
}

/** ASN.1 GeneralizedTime as `openssl ca -startdate/-enddate` takes it. */
const asn1Time = (date: Date): string => `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/**
 * A self-signed P-256 certificate for `identifiers` (IPs and DNS names in the SAN), valid
 * from notBefore to notAfter, which may both lie in the past.
 */
export async function selfSigned(
  identifiers: string[],
  notBefore: Date,
  notAfter: Date,
): Promise<SelfSigned> {
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-pki-'));
  try {
    const key = generateKey('ecdsa-p256');
    const san = identifiers.map((id) => (/^[\d.]+$|:/.test(id) ? `IP:${id}` : `DNS:${id}`)).join(',');
    writeFileSync(join(dir, 'key.pem'), key);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${dir}`,
        `serial = ${join(dir, 'serial')}`, // required, though -rand_serial never reads it
        'default_md = sha256',
        'policy = anything',
        'unique_subject = no',
        'x509_extensions = leaf',
        '[anything]',
        'commonName = supplied',
        '[leaf]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = serverAuth',
        `subjectAltName = ${san}`,
        '',
      ].join('\n'),
    );
    const openssl = (args: string[], what: string) =>
      execOk('openssl', args, { timeoutMs: 30_000, what: `openssl: ${what}` });
    await openssl(
      [
        'req',
        '-new',
        '-key',
        join(dir, 'key.pem'),
        '-subj',
        '/CN=certkeeper e2e',
        '-out',
        join(dir, 'req.csr'),
      ],
      'CSR',
    );
    await openssl(
      [
        'ca',
        '-batch',
        '-notext',
        '-selfsign',
        '-rand_serial',
        '-config',
        join(dir, 'ca.cnf'),
        '-keyfile',
        join(dir, 'key.pem'),
        '-in',
        join(dir, 'req.csr'),
        '-startdate',
        asn1Time(notBefore),
        '-enddate',
        asn1Time(notAfter),
        '-out',
        join(dir, 'cert.pem'),
      ],
      'self-signed certificate',
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { cert, key, serial: new X509Certificate(cert).serialNumber.toUpperCase() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
