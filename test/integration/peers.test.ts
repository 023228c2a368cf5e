/**
 * The local peers are up and behave the way the other integration tests rely on.
 */
import { X509Certificate, createHash, createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:http';
import https from 'node:https';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  DeleteHostedZoneCommand,
  type Change,
} from '@aws-sdk/client-route-53';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpCall } from '../../scripts/peers/probes.js';
import { KmsCaSigner } from '../../shared/identity/kms-signer.js';
import { caCertificate } from '../../shared/identity/x509.js';
import {
  dnsQuery,
  dynamodbClient,
  listenWhenFree,
  pebbleRoots,
  peers,
  route53Client,
  s3Client,
  uniqueName,
} from '../../scripts/test-kit/peers.js';

describe('Pebble', () => {
  it('serves a directory with renewalInfo and the shortlived and classic profiles', async () => {
    const { directoryUrl, caPem } = peers().pebble;
    const response = await httpCall(directoryUrl, { ca: caPem });
    expect(response.status).toBe(200);
    const directory = JSON.parse(response.body) as {
      newOrder?: string;
      renewalInfo?: string;
      meta?: { profiles?: Record<string, string> };
    };
    expect(directory.newOrder).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    expect(directory.renewalInfo).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    expect(Object.keys(directory.meta?.profiles ?? {})).toEqual(
      expect.arrayContaining(['shortlived', 'classic']),
    );
  });

  it('is not trusted without the generated CA', async () => {
    await expect(httpCall(peers().pebble.directoryUrl)).rejects.toThrow(/certificate/i);
  });

  it('exposes its root and intermediate on the management API', async () => {
    const { root, intermediate } = await pebbleRoots();
    const rootCert = new X509Certificate(root);
    const intermediateCert = new X509Certificate(intermediate);
    expect(intermediateCert.checkIssued(rootCert)).toBe(true);
  });
});

describe('moto', () => {
  it('creates an S3 bucket', async () => {
    const s3 = s3Client();
    const bucket = uniqueName('peers-test');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const head = await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect(head.$metadata.httpStatusCode).toBe(200);
  });

  // The agents' CA key signs digests (shared/identity/kms-signer.ts). moto 5.2.5 hashed a
  // DIGEST message again, so nothing it signed verified; scripts/peers/moto-server.py makes
  // it sign the digest as given, as KMS does.
  describe('KMS Sign with MessageType DIGEST', () => {
    const kms = new KMSClient({
      endpoint: peers().motoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const eccKey = async () =>
      (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })))
        .KeyMetadata!.Arn!;
    afterAll(() => kms.destroy());

    it('signs the digest as given: the signature verifies over the data, and KMS Verify agrees', async () => {
      const keyId = await eccKey();
      const signer = new KmsCaSigner(kms, keyId);
      const data = Buffer.from('certkeeper agents CA');
      const signature = await signer.sign(data);
      const publicKey = createPublicKey({ key: await signer.publicKey(), format: 'der', type: 'spki' });
      expect(verify('sha256', data, publicKey, signature)).toBe(true);
      // Not over the digest hashed once more (what moto did), and RAW still hashes the message.
      const digest = createHash('sha256').update(data).digest();
      expect(verify('sha256', digest, publicKey, signature)).toBe(false);
      const verified = await kms.send(
        new VerifyCommand({
          KeyId: keyId,
          Message: digest,
          MessageType: 'DIGEST',
          Signature: signature,
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      );
      expect(verified.SignatureValid).toBe(true);
      const raw = await kms.send(
        new SignCommand({
          KeyId: keyId,
          Message: data,
          MessageType: 'RAW',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      );
      expect(verify('sha256', data, publicKey, Buffer.from(raw.Signature!))).toBe(true);
    });

    it('makes a CA certificate that verifies with its own key', async () => {
      const signer = new KmsCaSigner(kms, await eccKey());
      const pem = await caCertificate(signer, {
        commonName: 'certkeeper agents (peers test)',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const ca = new X509Certificate(pem);
      expect(ca.verify(ca.publicKey)).toBe(true);
    });
  });
});

describe('DynamoDB Local', () => {
  it('lists tables', async () => {
    const out = await dynamodbClient().send(new ListTablesCommand({}));
    expect(Array.isArray(out.TableNames)).toBe(true);
  });
});

describe('test DNS server', () => {
  const route53 = route53Client();
  const zone = `${uniqueName('peers')}.example.com`;
  const name = `_acme-challenge.www.${zone}`;
  let zoneId = '';

  const change = (
    action: 'UPSERT' | 'DELETE',
    type: 'TXT' | 'A',
    recordName: string,
    values: string[],
  ): Change => ({
    Action: action,
    ResourceRecordSet: {
      Name: recordName,
      Type: type,
      TTL: 60,
      ResourceRecords: values.map((Value) => ({ Value })),
    },
  });
  const apply = async (...changes: Change[]): Promise<void> => {
    await route53.send(
      new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }),
    );
  };

  beforeAll(async () => {
    const out = await route53.send(
      new CreateHostedZoneCommand({ Name: zone, CallerReference: uniqueName('ref') }),
    );
    zoneId = out.HostedZone?.Id ?? '';
    expect(zoneId).not.toBe('');
  });

  afterAll(async () => {
    await apply(change('DELETE', 'A', `host.${zone}`, ['127.0.0.1'])).catch(() => undefined);
    await route53.send(new DeleteHostedZoneCommand({ Id: zoneId })).catch(() => undefined);
  });

  it.each(['udp', 'tcp'] as const)(
    'serves a TXT record written to Route53, then forgets it (%s)',
    async (transport) => {
      const server = peers().dnsServer;
      const values = ['"token-one"', '"token-two"'];
      await apply(change('UPSERT', 'TXT', name, values));
      const present = await dnsQuery(server, name, 'TXT', { transport });
      expect(present.rcode).toBe('NOERROR');
      expect(present.txt.sort()).toEqual(['token-one', 'token-two']);

      await apply(change('DELETE', 'TXT', name, values));
      const gone = await dnsQuery(server, name, 'TXT', { transport });
      expect(gone.rcode).toBe('NOERROR');
      expect(gone.answers).toEqual([]);
    },
  );

  it('answers names case-insensitively and joins long TXT values split into strings', async () => {
    const long = 'x'.repeat(255);
    await apply(change('UPSERT', 'TXT', name, [`"${long}" "tail"`]));
    const reply = await dnsQuery(peers().dnsServer, name.toUpperCase(), 'TXT', { transport: 'tcp' });
    expect(reply.txt).toEqual([`${long}tail`]);
    await apply(change('DELETE', 'TXT', name, [`"${long}" "tail"`]));
  });

  it('serves A records and answers AAAA with no records', async () => {
    const server = peers().dnsServer;
    await apply(change('UPSERT', 'A', `host.${zone}`, ['127.0.0.1']));
    for (const transport of ['udp', 'tcp'] as const) {
      const a = await dnsQuery(server, `host.${zone}`, 'A', { transport });
      expect(a.a).toEqual(['127.0.0.1']);
      const aaaa = await dnsQuery(server, `host.${zone}`, 'AAAA', { transport });
      expect(aaaa.rcode).toBe('NOERROR');
      expect(aaaa.answers).toEqual([]);
    }
  });

  it('lets Pebble validate dns-01 from Route53 TXT records and http-01 via a Route53 A record', async () => {
    const { directoryUrl, caPem, httpPort } = peers().pebble;
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: caPem });
    const client = new acme.Client({
      directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      backoffMin: 100,
      backoffMax: 1_000,
      backoffAttempts: 30,
    });
    await client.createAccount({ termsOfServiceAgreed: true });
    const issue = async (
      identifier: string,
      type: 'dns-01' | 'http-01',
      profile: string,
    ): Promise<string> => {
      const request = { identifiers: [{ type: 'dns', value: identifier }], profile };
      const order = await client.createOrder(request);
      const [authz] = await client.getAuthorizations(order);
      const challenge = authz?.challenges.find((candidate) => candidate.type === type);
      if (!challenge) throw new Error(`no ${type} challenge offered`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      const txt = `_acme-challenge.${identifier}`;
      const responder = createServer((req, res) =>
        res.end(req.url === `/.well-known/acme-challenge/${challenge.token}` ? keyAuthorization : ''),
      );
      if (type === 'dns-01') await apply(change('UPSERT', 'TXT', txt, [`"${keyAuthorization}"`]));
      else await listenWhenFree(responder, httpPort);
      try {
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } finally {
        if (type === 'dns-01') await apply(change('DELETE', 'TXT', txt, [`"${keyAuthorization}"`]));
        else responder.close();
      }
      const [, csr] = await acme.crypto.createCsr({ altNames: [identifier] });
      return client.getCertificate(await client.finalizeOrder(order, csr));
    };

    const shortlived = new X509Certificate(await issue(`dns01.${zone}`, 'dns-01', 'shortlived'));
    expect(shortlived.subjectAltName).toBe(`DNS:dns01.${zone}`);
    const hours = (Date.parse(shortlived.validTo) - Date.parse(shortlived.validFrom)) / 3_600_000;
    expect(Math.round(hours)).toBe(160);

    await apply(change('UPSERT', 'A', `host.${zone}`, ['127.0.0.1']));
    const classic = new X509Certificate(await issue(`host.${zone}`, 'http-01', 'classic'));
    expect(classic.subject).toContain(`CN=host.${zone}`);
  });

  it('answers NXDOMAIN outside every zone and NOERROR for unknown names inside a zone', async () => {
    const server = peers().dnsServer;
    expect(
      (await dnsQuery(server, `${uniqueName('nowhere')}.invalid`, 'TXT', { transport: 'tcp' })).rcode,
    ).toBe('NXDOMAIN');
    const inside = await dnsQuery(server, `missing.${zone}`, 'TXT', { transport: 'udp' });
    expect(inside.rcode).toBe('NOERROR');
    expect(inside.answers).toEqual([]);
  });
});
