import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IntegrityError, ValidationError } from '../../../shared/model/errors.js';
import { KEY_TYPES } from '../../../shared/model/key-types.js';
import {
  TAG,
  children,
  contextConstructed,
  contextPrimitive,
  decodeOid,
  expectConstructed,
  readTlv,
} from '../../../shared/pki/der.js';
import {
  certId,
  certificateMatchesCsr,
  createCsr,
  generateKey,
  keyTypeOf,
  keyMatchesCertificate,
  parseCertificate,
  pemBlocks,
  pemToDer,
  sha256Hex,
  splitPemChain,
  verifyChain,
} from '../../../shared/pki/index.js';
import { createPkiFixtures } from '../../support/pki-fixtures.js';

// Made at run time: no private key is committed (see fixtures.ts for the fixed values).
const { root, intermediate, leaf, leafKey, noAki } = await createPkiFixtures();

// RFC 9773 Appendix A: the example certificate; §4.1 gives its certID.
const RFC9773_EXAMPLE = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;

describe('generateKey', () => {
  const expected = {
    'ecdsa-p256': { type: 'ec', namedCurve: 'prime256v1' },
    'ecdsa-p384': { type: 'ec', namedCurve: 'secp384r1' },
    rsa2048: { type: 'rsa', modulusLength: 2048 },
    rsa3072: { type: 'rsa', modulusLength: 3072 },
    rsa4096: { type: 'rsa', modulusLength: 4096 },
  } as const;

  it.each(KEY_TYPES)('makes a PKCS#8 PEM %s key', (keyType) => {
    const pem = generateKey(keyType);
    expect(pemBlocks(pem, 'PRIVATE KEY')).toHaveLength(1); // exactly one PKCS#8 block
    const key = createPrivateKey(pem);
    const { type, ...details } = expected[keyType];
    expect(key.asymmetricKeyType).toBe(type);
    expect(key.asymmetricKeyDetails).toMatchObject(details);
    // What a kept key is checked against before an order is resumed with it.
    expect(keyTypeOf(pem)).toBe(keyType);
  });

  it('names no key type for a key certkeeper does not make', () => {
    const ed25519 = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(keyTypeOf(ed25519)).toBeUndefined();
  });

  it('refuses an unknown key type, naming the field', () => {
    expect(() => generateKey('dsa1024' as never)).toThrow(ValidationError);
  });
});

/** The parts of a PKCS#10 request the tests look at, read with the same DER walker. */
function inspectCsr(pem: string) {
  const der = pemToDer(pem, 'CERTIFICATE REQUEST');
  const [info, algorithm, signature] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'CertificationRequest');
  const [, subject, spki, attributes] = expectConstructed(info, TAG.SEQUENCE, 'CertificationRequestInfo');
  const names: { dns: string[]; ip: string[] } = { dns: [], ip: [] };
  expect(attributes?.tag).toBe(contextConstructed(0));
  for (const attribute of children(attributes!.value)) {
    const [oid, values] = expectConstructed(attribute, TAG.SEQUENCE, 'Attribute');
    if (decodeOid(oid!.value) !== '1.2.840.113549.1.9.14') continue; // extensionRequest
    const [extensions] = expectConstructed(values, TAG.SET, 'values');
    for (const extension of expectConstructed(extensions, TAG.SEQUENCE, 'Extensions')) {
      const parts = expectConstructed(extension, TAG.SEQUENCE, 'Extension');
      if (decodeOid(parts[0]!.value) !== '2.5.29.17') continue;
      for (const name of expectConstructed(readTlv(parts[parts.length - 1]!.value), TAG.SEQUENCE, 'SAN')) {
        if (name.tag === contextPrimitive(2)) names.dns.push(name.value.toString('latin1'));
        if (name.tag === contextPrimitive(7))
          names.ip.push([...name.value].join(name.value.length === 4 ? '.' : ','));
      }
    }
  }
  const signatureOid = decodeOid(expectConstructed(algorithm, TAG.SEQUENCE, 'AlgorithmIdentifier')[0]!.value);
  // BIT STRING content starts with the unused-bits octet.
  const signatureValid = verify(
    signatureOid.startsWith('1.2.840.10045.4.3.3') ? 'sha384' : 'sha256',
    info!.raw,
    { key: spki!.raw, format: 'der', type: 'spki' },
    signature!.value.subarray(1),
  );
  return { subjectEmpty: subject!.value.length === 0, names, signatureValid };
}

describe('createCsr', () => {
  it('writes an IP as an iPAddress SAN, DNS names as dNSName, and no subject at all', async () => {
    const csr = await createCsr(
      [
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'www.example.com' },
      ],
      generateKey('ecdsa-p256'),
    );
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const parsed = inspectCsr(csr);
    expect(parsed.subjectEmpty).toBe(true); // no CN: an IP there is badCSR at Let's Encrypt
    expect(parsed.names).toEqual({ dns: ['www.example.com'], ip: ['127.0.0.1'] });
    expect(parsed.signatureValid).toBe(true);
  });

  it.each(KEY_TYPES.filter((k) => k !== 'rsa4096'))('signs with a %s key', async (keyType) => {
    const csr = await createCsr([{ type: 'dns', value: 'example.com' }], generateKey(keyType));
    expect(inspectCsr(csr).signatureValid).toBe(true);
  });

  it.each(['ecdsa-p256', 'ecdsa-p384', 'rsa2048'] as const)(
    'makes a %s request openssl verifies, with the SANs and key usage it asks for',
    async (keyType) => {
      const csr = await createCsr(
        [
          { type: 'ip', value: '2001:db8::1' },
          { type: 'ip', value: '192.0.2.7' },
          { type: 'dns', value: 'www.example.com' },
        ],
        generateKey(keyType),
      );
      const text = execFileSync('openssl', ['req', '-noout', '-verify', '-text'], {
        input: csr,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      expect(text).toMatch(/IP Address:2001:DB8:0:0:0:0:0:1, IP Address:192\.0\.2\.7, DNS:www\.example\.com/);
      expect(text).toMatch(/Key Usage: *\n *Digital Signature, Key Encipherment/);
      expect(text).toMatch(
        keyType === 'ecdsa-p384'
          ? /ecdsa-with-SHA384/
          : keyType === 'rsa2048'
            ? /sha256WithRSAEncryption/
            : /ecdsa-with-SHA256/,
      );
    },
  );

  it('refuses an empty identifier list, and a key it cannot sign with', async () => {
    await expect(createCsr([], generateKey('ecdsa-p256'))).rejects.toThrow(ValidationError);
    const ed25519 = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await expect(createCsr([{ type: 'dns', value: 'example.com' }], ed25519)).rejects.toThrow(
      ValidationError,
    );
  });

  it('matches a certificate only when the certificate carries its key', async () => {
    const csrSameKey = await createCsr([{ type: 'dns', value: 'www.example.com' }], leafKey);
    const csrOtherKey = await createCsr(
      [{ type: 'dns', value: 'www.example.com' }],
      generateKey('ecdsa-p256'),
    );
    expect(certificateMatchesCsr(leaf, csrSameKey)).toBe(true);
    expect(certificateMatchesCsr(leaf, csrOtherKey)).toBe(false);
  });
});

describe('parseCertificate', () => {
  it('reads serial (both forms), validity, SANs, CN and AKI', () => {
    const info = parseCertificate(leaf);
    expect(info.serialHex).toBe('8F1E2D3C4B5A6978');
    expect(info.serialHex).toBe(new X509Certificate(leaf).serialNumber);
    expect(info.serialDer.toString('hex')).toBe('008f1e2d3c4b5a6978');
    expect(info.notBefore.toISOString()).toBe('2026-11-22T10:52:35.000Z');
    expect(info.notAfter.toISOString()).toBe(new Date(new X509Certificate(leaf).validTo).toISOString());
    expect(info.dnsNames).toEqual(['www.example.com']);
    expect(info.ipAddresses).toEqual(['203.0.113.10', '2001:db8::1']);
    expect(info.hasCommonName).toBe(false);
    expect(info.issuer).toBe('CN=certkeeper test intermediate');
    expect(info.aki?.toString('hex')).toBe('ca212aeaf5aa620b38d24dad260b1836fed3a182');
  });

  it('reads the RFC 9773 example, whose dates are in year 1', () => {
    const info = parseCertificate(RFC9773_EXAMPLE);
    expect(info.serialHex).toBe('87654321');
    expect(info.serialDer.toString('hex')).toBe('0087654321');
    expect(info.hasCommonName).toBe(true);
    expect(info.notBefore.getUTCFullYear()).toBe(1);
    expect(info.dnsNames).toEqual([]);
  });

  it('turns garbage into an IntegrityError', () => {
    expect(() => parseCertificate('not a certificate')).toThrow(IntegrityError);
  });
});

describe('certId (RFC 9773 §4.1)', () => {
  it('reproduces the Appendix A vector', () => {
    expect(certId(RFC9773_EXAMPLE)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('keeps the 0x00 sign byte of a serial whose top bit is set', () => {
    // AKI and serial as printed by `openssl x509 -text` for the fixture, encoded by hand.
    expect(certId(leaf)).toBe('yiEq6vWqYgs40k2tJgsYNv7ToYI.AI8eLTxLWml4');
  });

  it('has no certID for a certificate without an AKI', () => {
    expect(() => certId(noAki)).toThrow(/Authority Key Identifier/);
  });
});

describe('splitPemChain', () => {
  it('returns the leaf and the issuers in order, each ending in a newline', () => {
    const { leaf: first, chain } = splitPemChain(`${leaf.trim()}\n\n${intermediate.trim()}`);
    expect(first).toBe(leaf);
    expect(chain).toEqual([intermediate]);
  });

  it('refuses text with no certificate', () => {
    expect(() => splitPemChain('')).toThrow(IntegrityError);
  });
});

describe('keyMatchesCertificate', () => {
  it('is true for the pair and false for another key', () => {
    expect(keyMatchesCertificate(leafKey, leaf)).toBe(true);
    expect(keyMatchesCertificate(generateKey('ecdsa-p256'), leaf)).toBe(false);
    expect(keyMatchesCertificate('garbage', leaf)).toBe(false);
  });
});

describe('verifyChain', () => {
  const at = new Date('2030-01-01T00:00:00Z');

  it('accepts leaf → intermediate → root', () => {
    expect(() => verifyChain(leaf, [intermediate], [root], at)).not.toThrow();
  });

  it('accepts a chain that ends in a trusted certificate itself', () => {
    expect(() => verifyChain(leaf, [intermediate, root], [root], at)).not.toThrow();
  });

  it('refuses a chain missing its intermediate', () => {
    expect(() => verifyChain(leaf, [], [root], at)).toThrow(/trusted root/);
  });

  it('refuses a different root', () => {
    expect(() => verifyChain(leaf, [intermediate], [noAki], at)).toThrow(/trusted root/);
    // A leaf is not a CA: it cannot vouch for the intermediate.
    expect(() => verifyChain(intermediate, [leaf], [root], at)).toThrow(/not signed by/);
  });

  it('refuses a time outside the validity', () => {
    expect(() => verifyChain(leaf, [intermediate], [root], new Date('2026-01-01T00:00:00Z'))).toThrow(
      /not valid at/,
    );
  });
});

describe('sha256Hex', () => {
  it('hashes UTF-8 text', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
