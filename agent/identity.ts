import { X509Certificate, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { agentCsr } from '../shared/identity/agent-csr.js';
import type { Clock } from '../shared/model/clock.js';
import {
  CertkeeperError,
  IntegrityError,
  UnreachableError,
  ValidationError,
} from '../shared/model/errors.js';
import { agentSettingsSchema, renewalPayload, type AgentSettings } from '../shared/identity/protocol.js';
import { readIfExists, writeFileAtomic } from './files.js';

/**
 * A registry agent's identity on disk (identity.directory, 0700 by the package):
 *   key.pem            the client certificate's key, made here, never sent anywhere (0600)
 *   certificate.pem    the client certificate from certkeeper's CA
 *   ca.pem             that CA's certificate
 *   delivery-key.pem   the key certificates are sealed to for this server (0600)
 * and its renewal: before half of its lifetime is gone, a new key and CSR, signed with the
 * current key, traded at the identity endpoint for the next certificate.
 */
export const IDENTITY_FILES = {
  key: 'key.pem',
  certificate: 'certificate.pem',
  ca: 'ca.pem',
  deliveryKey: 'delivery-key.pem',
} as const;

export interface Identity {
  key: KeyObject;
  certificatePem: string;
  certificate: X509Certificate;
  caPem: string;
}

export async function loadIdentity(dir: string): Promise<Identity> {
  const read = async (file: string) => {
    const text = await readIfExists(join(dir, file));
    if (text === undefined) {
      throw new ValidationError(
        `identity.directory`,
        `${join(dir, file)} is missing: this server has no identity`,
        'join the registry: certkeeper agent join <token> (a new token: certkeeper agent token <name>)',
      );
    }
    return text;
  };
  const [keyPem, certificatePem, caPem] = await Promise.all([
    read(IDENTITY_FILES.key),
    read(IDENTITY_FILES.certificate),
    read(IDENTITY_FILES.ca),
  ]);
  return {
    key: createPrivateKey(keyPem),
    certificatePem,
    certificate: new X509Certificate(certificatePem),
    caPem,
  };
}

export async function loadDeliveryKey(dir: string): Promise<KeyObject> {
  const pem = await readIfExists(join(dir, IDENTITY_FILES.deliveryKey));
  if (pem === undefined) {
    throw new ValidationError(
      'identity.directory',
      `${join(dir, IDENTITY_FILES.deliveryKey)} is missing`,
      'join again: certkeeper agent join <token>',
    );
  }
  return createPrivateKey(pem);
}

/** Writes the identity's files; the key last but one, the certificate last, so a reader never pairs a new key with nothing. */
export async function saveIdentity(
  dir: string,
  files: { key?: KeyObject; certificatePem: string; caPem: string; deliveryKey?: KeyObject },
): Promise<void> {
  const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Private to the agent: the keys in it are this server's identity.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (files.deliveryKey)
    await writeFileAtomic({
      path: join(dir, IDENTITY_FILES.deliveryKey),
      content: pem(files.deliveryKey),
      mode: 0o600,
    });
  await writeFileAtomic({ path: join(dir, IDENTITY_FILES.ca), content: files.caPem, mode: 0o644 });
  if (files.key)
    await writeFileAtomic({ path: join(dir, IDENTITY_FILES.key), content: pem(files.key), mode: 0o600 });
  await writeFileAtomic({
    path: join(dir, IDENTITY_FILES.certificate),
    content: files.certificatePem,
    mode: 0o644,
  });
}

/** A new identity key: EC P-256, what Roles Anywhere signs fastest and certkeeper's CA expects. */
export const newIdentityKey = (): KeyObject =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

/** Renew once half of the lifetime is gone: time to retry for days before it lapses. */
export function renewalAt(certificate: X509Certificate): number {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  return from + (to - from) / 2;
}

export interface IdentityAnswer {
  agent: string;
  certificate: string;
  caCertificate: string;
  notAfter: string;
  settings: AgentSettings;
}

const answerSchema = z.object({
  agent: z.string(),
  certificate: z.string(),
  caCertificate: z.string(),
  notAfter: z.string(),
  settings: agentSettingsSchema,
});

/**
 * Trades the current identity for the next: a new key, a CSR naming the agent, both bound
 * with the current key's signature and the time. The new key replaces the old only once the
 * new certificate is in hand; a failure changes nothing on disk.
 */
export async function renewIdentity(
  options: { agent: string; dir: string; enrolUrl: string; endpointCaPem?: string },
  clock: Clock,
): Promise<IdentityAnswer> {
  const current = await loadIdentity(options.dir);
  const key = newIdentityKey();
  const csr = agentCsr(options.agent, key);
  const time = clock.now().toISOString();
  const signature = sign(null, renewalPayload(options.agent, time, csr), {
    key: current.key,
    dsaEncoding: 'der',
  });
  const answer = await postIdentityRequest(
    options.enrolUrl,
    {
      action: 'renew',
      agent: options.agent,
      csr,
      certificate: current.certificatePem,
      time,
      signature: signature.toString('base64'),
    },
    options.endpointCaPem,
  );
  if (!new X509Certificate(answer.certificate).checkPrivateKey(key)) {
    throw new IntegrityError(
      'the identity endpoint answered with a certificate for another key',
      'try again; if this repeats, check the identity endpoint',
    );
  }
  await saveIdentity(options.dir, { key, certificatePem: answer.certificate, caPem: answer.caCertificate });
  return answer;
}

/** A body the identity endpoint takes: 16 KiB at most, answers at most 64 KiB. */
const ANSWER_MAX_BYTES = 64 * 1024;

/**
 * POSTs one request to the identity endpoint and reads its answer. HTTPS always, except a
 * loopback address (tests, a tunnel): the token travels in the join request.
 */
export async function postIdentityRequest(
  url: string,
  body: unknown,
  caPem?: string,
): Promise<IdentityAnswer> {
  const target = new URL(url);
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(target.hostname);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && loopback)) {
    throw new ValidationError(
      'identity.enrolUrl',
      `${url} is not an https:// URL`,
      'use the URL from the join token (the stack output AgentEnrolmentUrl)',
    );
  }
  const payload = Buffer.from(JSON.stringify(body));
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          'user-agent': 'certkeeper-agent',
        },
        timeout: 30_000,
        ...(caPem && target.protocol === 'https:' ? { ca: caPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > ANSWER_MAX_BYTES) req.destroy(new Error(`answer over ${ANSWER_MAX_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(payload);
  }).catch((err: unknown) => {
    throw new UnreachableError(
      `the identity endpoint ${target.origin} could not be reached (${(err as Error).message})`,
      'check the server can reach it over HTTPS (firewall, proxy), then try again',
      err,
    );
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CertkeeperError(
      'internal',
      `the identity endpoint answered ${status} with a body that is not JSON`,
      { retryable: true, fix: 'try again later' },
    );
  }
  if (status !== 200) {
    const error = (json as { error?: { reason?: string; message?: string; fix?: string } }).error ?? {};
    throw new IdentityRefusedError(
      status,
      error.reason,
      error.message ?? `HTTP ${status}`,
      error.fix ?? 'try again later',
    );
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    throw new CertkeeperError('internal', 'the identity endpoint answered with an unexpected body', {
      retryable: true,
      fix: 'check the agent and stack versions match',
    });
  }
  return parsed.data;
}

/** The identity endpoint said no; `reason` as the endpoint gave it (token-used, removed, ...). */
export class IdentityRefusedError extends CertkeeperError {
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    message: string,
    fix: string,
  ) {
    super(status >= 500 ? 'internal' : 'validation', `the identity endpoint refused: ${message}`, {
      fix,
      retryable: status >= 500,
    });
  }
}
