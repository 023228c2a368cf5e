/**
 * A throwaway CA and a localhost server certificate for Pebble's HTTPS listeners (ACME API
 * and management API), made with openssl at every start and never committed.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execOk } from './util.js';

export interface TlsFiles {
  /** The CA certificate clients trust (PEBBLE_CA_CERT). */
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

export async function generateTls(dir: string): Promise<TlsFiles> {
  const files = {
    caKey: join(dir, 'tls-ca.key'),
    caCert: join(dir, 'tls-ca.pem'),
    serverKey: join(dir, 'tls-server.key'),
    serverCsr: join(dir, 'tls-server.csr'),
    serverCert: join(dir, 'tls-server.pem'),
    extensions: join(dir, 'tls-server.ext'),
  };
  const openssl = (args: string[], what: string): Promise<string> =>
    execOk('openssl', args, { timeoutMs: 30_000, what: `openssl: ${what}` });
  const serial = () => `0x${randomBytes(16).toString('hex').replace(/^./, '4')}`;

  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      files.caKey,
      '-out',
      files.caCert,
      '-days',
      '30',
      '-set_serial',
      serial(),
      '-subj',
      `/O=certkeeper test peers/CN=certkeeper peers TLS CA ${randomBytes(4).toString('hex')}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    'CA certificate',
  );
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      files.serverKey,
      '-out',
      files.serverCsr,
      '-subj',
      '/O=certkeeper test peers/CN=localhost',
    ],
    'server key and CSR',
  );
  writeFileSync(
    files.extensions,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      files.serverCsr,
      '-CA',
      files.caCert,
      '-CAkey',
      files.caKey,
      '-set_serial',
      serial(),
      '-days',
      '30',
      '-extfile',
      files.extensions,
      '-out',
      files.serverCert,
    ],
    'server certificate',
  );
  return { caCert: files.caCert, serverCert: files.serverCert, serverKey: files.serverKey };
}
