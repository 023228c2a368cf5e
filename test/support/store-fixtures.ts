import type { CertificateBundle, ManifestInput } from '../../shared/store/store.js';

/** Stand-in PEM text: the store checks PEM markers and hashes, never parses certificates. */
export function fakeBundle(tag: string): CertificateBundle {
  const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
  const cert = pem('CERTIFICATE', Buffer.from(`leaf ${tag}`).toString('base64'));
  const chain = pem('CERTIFICATE', Buffer.from(`intermediate ${tag}`).toString('base64'));
  return {
    cert,
    chain,
    fullchain: cert + chain,
    privkey: pem('PRIVATE KEY', Buffer.from(`key ${tag}`).toString('base64')),
  };
}

export function fakeMeta(overrides: Partial<ManifestInput> = {}): ManifestInput {
  return {
    identifiers: ['example.test', '*.example.test'],
    profile: 'tlsserver',
    keyType: 'ecdsa-p256',
    notBefore: '2026-05-01T00:00:00.000Z',
    notAfter: '2026-06-15T00:00:00.000Z',
    issuedAt: '2026-05-01T00:05:00.000Z',
    certId: undefined,
    ...overrides,
  };
}
