import * as z from 'zod';
import { systemClock } from '../../model/clock.js';
import { ValidationError } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import { sha256Hex } from '../../pki/hash.js';
import { pemBlocks } from '../../pki/pem.js';
import { sniFor, tlsAlpn01Certificate } from '../../pki/tls-alpn.js';
import { SNI_NAME, tlsAlpn01Key } from '../../store/layout.js';
import type { ObjectStore } from '../../store/store.js';
import { type S3Http01SolverOptions, waitReadable } from '../http01/s3.js';
import type { Challenge, ChallengeSolver } from '../solver.js';

export type ObjectTlsAlpn01SolverOptions = S3Http01SolverOptions;

/** Exactly one PEM block with this label (shared/pki/pem.ts reads the blocks). */
const pemOf = (label: string) =>
  z.string().refine((text) => pemBlocks(text, label).length === 1, `must hold one ${label} PEM block`);

/**
 * What the responder needs for one SNI name: the validation certificate and the throwaway
 * key made for it alone (RFC 8737 §3), never the key of the certificate being ordered. The
 * token tells two orders for one name apart, so a cleanup removes only its own.
 */
export const tlsAlpn01Material = z.object({
  version: z.literal(1),
  token: z.string(),
  certPem: pemOf('CERTIFICATE'),
  keyPem: pemOf('PRIVATE KEY'),
});
export type TlsAlpn01Material = z.infer<typeof tlsAlpn01Material>;

/** Reads the material stored for an SNI name; undefined when there is none (or it is not ours). */
export async function readTlsAlpn01Material(
  store: ObjectStore,
  sni: string,
): Promise<TlsAlpn01Material | undefined> {
  if (!SNI_NAME.test(sni)) return undefined;
  const text = await store.get(tlsAlpn01Key(sni));
  if (text === undefined) return undefined;
  return parseJson(text, tlsAlpn01Material, {
    what: tlsAlpn01Key(sni),
    fix: 'delete the object; the issuer writes it again on its next tls-alpn-01 validation',
    as: 'stored',
    secret: true,
  });
}

/**
 * ChallengeSolver for tls-alpn-01 through the object store: for each identifier a
 * validation certificate goes to `challenges/tls-alpn-01/<SNI name>`, which the agent's
 * responder (or local mode's) serves to connections that offer ALPN `acme-tls/1` with that
 * name. Ready means the object reads back; cleanup deletes it (when it is still this order's).
 */
export class ObjectTlsAlpn01Solver implements ChallengeSolver {
  readonly type = 'tls-alpn-01' as const;
  /** Bodies written by present, by token, for waitReady to compare. */
  private readonly written = new Map<string, string>();

  constructor(private readonly options: ObjectTlsAlpn01SolverOptions) {}

  async present(challenges: readonly Challenge[]): Promise<void> {
    // Every challenge is checked before the first write: a refused batch publishes nothing.
    const keys = challenges.map(keyFor);
    const bodies = await Promise.all(
      challenges.map(async (c) => {
        const { certPem, keyPem } = await tlsAlpn01Certificate(
          c.identifier,
          c.value,
          (this.options.clock ?? systemClock).now(),
        );
        const material: TlsAlpn01Material = { version: 1, token: c.token, certPem, keyPem };
        return JSON.stringify(material);
      }),
    );
    await Promise.all(
      challenges.map((c, i) => {
        this.written.set(c.token, bodies[i]!);
        return this.options.store.put(keys[i]!, bodies[i]!, {
          // The throwaway key is still a key: encrypted like the accounts' (KMS in S3, 0600 on disk).
          secret: true,
          contentType: 'application/json',
          sha256: sha256Hex(bodies[i]!),
        });
      }),
    );
  }

  async waitReady(challenges: readonly Challenge[]): Promise<void> {
    await waitReadable(
      this.options,
      challenges.map((c, i) => ({ key: keyFor(c, i), body: this.written.get(c.token) ?? '' })),
    );
  }

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    await Promise.all(
      challenges.map(async (c, i) => {
        this.written.delete(c.token);
        const key = keyFor(c, i);
        // Another order for the same name may have replaced ours since: leave its material.
        const stored = await readTlsAlpn01Material(this.options.store, sniFor(c.identifier)).catch(
          () => undefined,
        );
        if (stored === undefined || stored.token === c.token) await this.options.store.delete(key);
      }),
    );
  }
}

function keyFor(challenge: Challenge, index: number): string {
  if (challenge.type !== 'tls-alpn-01') {
    throw new ValidationError(
      `challenges[${index}].type`,
      `is ${challenge.type}`,
      'pass tls-alpn-01 challenges to the tls-alpn-01 solver',
    );
  }
  if (challenge.identifier.value.startsWith('*.')) {
    throw new ValidationError(
      `challenges[${index}].identifier`,
      `tls-alpn-01 cannot validate the wildcard ${challenge.identifier.value} (RFC 8737 §3)`,
      'use dns-01 for wildcard names',
    );
  }
  const sni = sniFor(challenge.identifier);
  if (!SNI_NAME.test(sni)) {
    throw new ValidationError(
      `challenges[${index}].identifier`,
      `"${challenge.identifier.value}" gives no usable TLS server name`,
      'pass a DNS name or an IP address from the CA',
    );
  }
  return tlsAlpn01Key(sni);
}
