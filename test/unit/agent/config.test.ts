import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE_FILE, loadAgentConfig, parseAgentConfig, targetFor } from '../../../agent/config.js';
import { ValidationError } from '../../../shared/model/errors.js';

const EXAMPLE = new URL('../../../agent/examples/agent.config.json', import.meta.url).pathname;

const minimal = {
  bucket: 'my-bucket',
  certificates: { web: { fullchain: '/etc/ssl/web.pem', key: '/etc/ssl/web.key' } },
};

function writeConfig(body: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'certkeeper-config-')), 'agent.json');
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
}

/** The error's text as an operator reads it. */
function problem(input: unknown): string {
  try {
    parseAgentConfig(input, 'agent.json', '/etc/certkeeper');
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).describe();
  }
  throw new Error('expected the config to be refused');
}

describe('the agent config', () => {
  it('reads the shipped example', () => {
    const config = loadAgentConfig(EXAMPLE);
    expect(Object.keys(config.certificates)).toEqual(['web-1', 'site']);
    expect(config.certificates.site).toMatchObject({ mode: 0o644, group: 'ssl-cert', name: 'site' });
    expect(config.http01Listen).toEqual({ host: '0.0.0.0', port: 80 });
    expect(config.reload?.commands).toEqual(['systemctl reload nginx']);
  });

  it('fills the defaults', () => {
    const config = parseAgentConfig(minimal);
    expect(config).toMatchObject({
      pollIntervalSeconds: 300,
      fallbackSelfSigned: false,
      stateFile: DEFAULT_STATE_FILE,
      http01Listen: undefined,
      tlsAlpn01Listen: undefined,
    });
    expect(parseAgentConfig({ ...minimal, tlsAlpn01Listen: '127.0.0.1:8443' }).tlsAlpn01Listen).toEqual({
      host: '127.0.0.1',
      port: 8443,
    });
    expect(config.queueUrl).toBeUndefined();
    expect(config.certificates.web).toMatchObject({ mode: 0o644, chain: undefined, cert: undefined });
    const withReload = parseAgentConfig({
      ...minimal,
      reload: { commands: ['true'] },
      verify: { host: 'localhost', port: 443 },
    });
    expect(withReload.reload?.timeoutSeconds).toBe(30);
    expect(withReload.verify?.timeoutSeconds).toBe(20);
  });

  it('resolves relative paths against the config file, and lets flags override the file', () => {
    const file = writeConfig({
      ...minimal,
      certificates: { web: { fullchain: 'certs/web.pem', key: '/k.pem' } },
      stateFile: 'state.json',
    });
    const config = loadAgentConfig(file, {
      http01Listen: '[::]:8402',
      fallbackSelfSigned: true,
      pollIntervalSeconds: undefined,
    });
    const dir = file.slice(0, -'/agent.json'.length);
    expect(config.certificates.web!.fullchain).toBe(`${dir}/certs/web.pem`);
    expect(config.stateFile).toBe(`${dir}/state.json`);
    expect(config.http01Listen).toEqual({ host: '::', port: 8402 });
    expect(config.fallbackSelfSigned).toBe(true);
    expect(config.pollIntervalSeconds).toBe(300);
    expect(config.source).toBe(file);
  });

  it.each([
    ['modes as octal strings', { mode: '0640' }, 0o640],
    ['modes as numbers', { mode: 0o600 }, 0o600],
  ])('accepts %s', (_what, extra, mode) => {
    expect(
      parseAgentConfig({ ...minimal, certificates: { web: { ...minimal.certificates.web, ...extra } } })
        .certificates.web!.mode,
    ).toBe(mode);
  });

  it.each<[string, unknown, RegExp]>([
    ['a missing bucket', { certificates: minimal.certificates }, /^agent\.json: bucket: .*Fix:/],
    [
      'no certificates',
      { bucket: 'bkt', certificates: {} },
      /^agent\.json: certificates: is empty, and there is no identity \(this agent has not joined\)\. Fix: list at least one certificate to install from the bucket, or join the registry: certkeeper agent join <token>$/,
    ],
    [
      'a typo in a field',
      { ...minimal, pollInterval: 5 },
      /^agent\.json: pollInterval: is not a known key \(did you mean pollIntervalSeconds\?\)\. Fix: rename it to pollIntervalSeconds$/,
    ],
    [
      'a mode written as a decimal number',
      { ...minimal, certificates: { web: { ...minimal.certificates.web, mode: 644 } } },
      /certificates\.web\.mode: .*"0644"/,
    ],
    [
      'an owner that is neither a name nor an id',
      { ...minimal, certificates: { web: { ...minimal.certificates.web, owner: 'www data' } } },
      /certificates\.web\.owner: must be a user or group name, or a numeric id/,
    ],
    [
      'a bad identifier',
      {
        ...minimal,
        certificates: { web: { ...minimal.certificates.web, identifiers: ['2001:db8:0:0::1'] } },
      },
      /certificates\.web\.identifiers\[0\]: .*Fix: write it as 2001:db8::1/,
    ],
    [
      'two files on one path',
      { ...minimal, certificates: { web: { fullchain: '/x.pem', key: '/x.pem' } } },
      /certificates\.web\.key: "\/x\.pem" is also certificates\.web\.fullchain\. Fix: give every file its own path/,
    ],
    [
      'a listen address without a port',
      { ...minimal, http01Listen: '0.0.0.0' },
      /http01Listen: must be "host:port"/,
    ],
    [
      'a TLS-ALPN-01 listen address without a port',
      { ...minimal, tlsAlpn01Listen: '127.0.0.1' },
      /tlsAlpn01Listen: must be "host:port"/,
    ],
    [
      'a bad certificate name',
      { bucket: 'bkt', certificates: { 'Web!': minimal.certificates.web } },
      /certificates\.Web!: is not a certificate name.*Fix: use the name declared/,
    ],
    [
      'a reload without commands',
      { ...minimal, reload: { commands: [] } },
      /reload\.commands: list at least one command/,
    ],
  ])('refuses %s, naming the file, the field and the fix', (_what, input, expected) => {
    expect(problem(input)).toMatch(expected);
  });

  it('accepts the obsolete queueUrl of an agent upgraded in place, with a warning naming the move', () => {
    const config = parseAgentConfig(
      { ...minimal, queueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/agent-web' },
      'agent.json',
    );
    expect(config.warnings).toEqual([
      'agent.json: queueUrl is obsolete (per-agent queues were removed) and ignored; delete it, and move this server to the registry with certkeeper agent join <token>',
    ]);
    expect(parseAgentConfig(minimal).warnings).toEqual([]);
  });

  it('needs no certificates once joined: what it receives installs under certificatesDirectory', () => {
    const config = parseAgentConfig(
      {
        name: 'edge-1',
        bucket: 'my-bucket',
        identity: {
          enrolUrl: 'https://abc.lambda-url.eu-west-1.on.aws/',
          region: 'eu-west-1',
          fleetTable: 'fleet-table',
          trustAnchorArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/x',
          profileArn: 'arn:aws:rolesanywhere:eu-west-1:123456789012:profile/y',
          roleArn: 'arn:aws:iam::123456789012:role/agents',
        },
      },
      'agent.json',
      '/etc/certkeeper',
    );
    expect(config.identity?.directory).toBe('/var/lib/certkeeper/identity');
    expect(targetFor(config, 'edge')).toMatchObject({
      fullchain: '/etc/ssl/certkeeper/edge/fullchain.pem',
      key: '/etc/ssl/certkeeper/edge/privkey.pem',
      mode: 0o644,
    });
    // A name that could leave the directory is no certificate name: no target.
    expect(targetFor(config, '../etc')).toBeUndefined();
    expect(targetFor(parseAgentConfig(minimal), 'edge')).toBeUndefined();
  });

  it('says when the file cannot be read or is not JSON', () => {
    expect(() => loadAgentConfig('/nonexistent/agent.json')).toThrow(
      /\/nonexistent\/agent\.json: cannot be read \(ENOENT\)/,
    );
    expect(() => loadAgentConfig(writeConfig('{ "bucket": '))).toThrow(/is not valid JSON/);
  });
});
