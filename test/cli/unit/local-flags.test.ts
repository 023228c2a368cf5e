import { describe, expect, it } from 'vitest';
import { http01PortFix } from '../../../cli/local/listen-flags.js';
import { defaultName } from '../../../cli/local/issue-flags.js';
import { directoryFlag, caDirectoryUrl } from '../../../cli/directory-url.js';
import { connect } from '../../../cli/context.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { NAME_PATTERN } from '../../../shared/model/spec.js';

describe('local issue: names and directories', () => {
  it('gives IPv6 addresses starting with :: a valid default name', () => {
    for (const value of ['::1', '::ffff:192.0.2.1', '2001:db8::1']) {
      const name = defaultName({ type: 'ip', value });
      expect(name, value).toMatch(NAME_PATTERN);
    }
    expect(defaultName({ type: 'ip', value: '::1' })).toBe('ipv6--1');
    expect(defaultName({ type: 'ip', value: '2001:db8::1' })).toBe('2001-db8--1');
    expect(defaultName({ type: 'dns', value: '*.example.com' })).toBe('wildcard.example.com');
  });

  it('accepts the CA names the deployment config accepts, and URLs', () => {
    expect(caDirectoryUrl('letsencrypt')).toBe('https://acme-v02.api.letsencrypt.org/directory');
    expect(caDirectoryUrl('letsencrypt-staging')).toBe(
      'https://acme-staging-v02.api.letsencrypt.org/directory',
    );
    expect(caDirectoryUrl('https://127.0.0.1:14000/dir')).toBe('https://127.0.0.1:14000/dir');
    expect(() => caDirectoryUrl('lets-encrypt')).toThrow(ValidationError);
    const error = (() => {
      try {
        caDirectoryUrl('lets-encrypt');
      } catch (err) {
        return err as ValidationError;
      }
    })();
    expect(error?.describe()).toMatch(
      /^--directory-url: .*Fix: give letsencrypt or letsencrypt-staging, or the directory URL/,
    );
  });

  it('takes the old spelling --directory, but not two different values', () => {
    expect(directoryFlag({ directory: 'letsencrypt' })).toBe('letsencrypt');
    expect(directoryFlag({ directoryUrl: 'letsencrypt', directory: 'letsencrypt' })).toBe('letsencrypt');
    expect(() => directoryFlag({ directoryUrl: 'letsencrypt', directory: 'letsencrypt-staging' })).toThrow(
      /--directory-url: given twice/,
    );
  });

  it('the stack commands take the names too, from --directory-url or CERTKEEPER_DIRECTORY_URL', async () => {
    const stack = { bucket: 'my-bucket', table: 'my-table', region: 'us-east-1' };
    const fromFlag = await connect({ ...stack, directoryUrl: 'letsencrypt-staging' }, ['ca'], {});
    expect(fromFlag.runtime.env.CERTKEEPER_DIRECTORY_URL).toBe(
      'https://acme-staging-v02.api.letsencrypt.org/directory',
    );
    expect(fromFlag.authorities[0]!.ca.directoryUrl).toBe(
      'https://acme-staging-v02.api.letsencrypt.org/directory',
    );
    const fromEnv = await connect(stack, ['ca'], { CERTKEEPER_DIRECTORY_URL: 'letsencrypt' });
    expect(fromEnv.runtime.env.CERTKEEPER_DIRECTORY_URL).toBe(
      'https://acme-v02.api.letsencrypt.org/directory',
    );
    await expect(connect({ ...stack, directoryUrl: 'lets-encrypt' }, ['ca'], {})).rejects.toThrow(
      /--directory-url/,
    );
  });
});

describe('local issue: the HTTP-01 port Fix', () => {
  it("names the CA's port (80 when its URL has none) and --http01-listen's", () => {
    const letsEncrypt =
      'ACME connection: 203.0.113.10: Fetching http://203.0.113.10/.well-known/acme-challenge/abc: Connection refused';
    expect(http01PortFix(letsEncrypt, '0.0.0.0:8080')).toBe(
      'the CA fetches the token from port 80, but --http01-listen 0.0.0.0:8080 answers on port 8080: pass --http01-listen 0.0.0.0:80, or forward port 80 to 8080',
    );
    expect(http01PortFix(letsEncrypt, '0.0.0.0:80')).toBeUndefined();
    expect(http01PortFix('ACME rateLimited: too many orders', '0.0.0.0:8080')).toBeUndefined();
    expect(http01PortFix(letsEncrypt, undefined)).toBeUndefined();
  });
});
