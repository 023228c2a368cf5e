import { describe, expect, it } from 'vitest';
import {
  DerError,
  TAG,
  decodeOid,
  encodeBitString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
  expectConstructed,
  ipBytes,
  readTlv,
} from '../../../shared/pki/der.js';

describe('the DER writer (X.690)', () => {
  it('writes short and long definite lengths (§8.1.3), which the reader reads back', () => {
    expect(encodeTlv(TAG.OCTET_STRING, Buffer.alloc(3)).toString('hex')).toBe('0403000000');
    const long = encodeTlv(TAG.OCTET_STRING, Buffer.alloc(200, 7));
    expect(long.subarray(0, 3).toString('hex')).toBe('0481c8');
    const longer = encodeTlv(TAG.OCTET_STRING, Buffer.alloc(300, 7));
    expect(longer.subarray(0, 4).toString('hex')).toBe('0482012c');
    expect(readTlv(longer).value).toEqual(Buffer.alloc(300, 7));
  });

  it('writes OBJECT IDENTIFIERs in base 128 with the first two arcs joined (§8.19)', () => {
    // extensionRequest, as every PKCS#10 request carrying extensions spells it.
    expect(encodeOid('1.2.840.113549.1.9.14').toString('hex')).toBe('06092a864886f70d01090e');
    expect(encodeOid('2.5.29.17').toString('hex')).toBe('0603551d11');
    for (const oid of ['1.2.840.10045.4.3.3', '1.3.6.1.5.5.7.1.31', '2.5.4.3']) {
      expect(decodeOid(readTlv(encodeOid(oid)).value)).toBe(oid);
    }
    expect(() => encodeOid('1')).toThrow(DerError);
    expect(() => encodeOid('1.x.3')).toThrow(DerError);
  });

  it('nests sequences, small integers and bit strings with their unused-bit count', () => {
    const der = encodeSequence(encodeSmallInteger(0), encodeBitString(Buffer.from([0xa0]), 5));
    expect(der.toString('hex')).toBe('30070201000302' + '05a0');
    const [version, bits] = expectConstructed(readTlv(der), TAG.SEQUENCE, 'test');
    expect(version!.value).toEqual(Buffer.from([0]));
    expect(bits!.value).toEqual(Buffer.from([5, 0xa0]));
    expect(() => encodeSmallInteger(128)).toThrow(DerError);
  });
});

describe('ipBytes', () => {
  it.each([
    ['127.0.0.1', '7f000001'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:db8:0:1:2:3:4:5', '20010db8000000010002000300040005'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
  ])('%s', (ip, hex) => {
    expect(ipBytes(ip).toString('hex')).toBe(hex);
  });

  it('refuses what is not an IP address', () => {
    expect(() => ipBytes('example.com')).toThrow(DerError);
    expect(() => ipBytes('1.2.3.256')).toThrow(DerError);
  });
});
