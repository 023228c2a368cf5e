import { randomBytes } from 'node:crypto';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import type { CheckSpec } from './check.js';

export const DEFAULT_HTTP01_PORT = 80;

/**
 * Whether an http-01 certificate's names serve what the issuer publishes: a probe token is
 * presented through the issuer's own solver (an object under challenges/http-01/ in the
 * bucket), fetched from each name the way the CA would (plain HTTP, the well-known path),
 * compared, and removed again in any case. This catches the usual breakages: no agent
 * responder, nginx/Caddy not proxying the path, port 80 closed, a different bucket.
 */
export function http01Check(
  solver: ChallengeSolver,
  spec: CertificateSpec,
  port: number,
  requestTimeoutMs: number,
): CheckSpec {
  return {
    id: `http-01:${spec.name}`,
    timeoutFix: `check that port ${port} on ${spec.identifiers.map((i) => i.value).join(', ')} is reachable from here`,
    async run() {
      // A fresh base64url token (RFC 8555 §8.3) per run: never one a real order uses.
      const token = randomBytes(32).toString('base64url');
      const value = `${token}.certkeeper-doctor-probe`;
      const challenges: Challenge[] = spec.identifiers.map((identifier) => ({
        type: 'http-01',
        identifier,
        token,
        value,
      }));
      const problems: string[] = [];
      try {
        await solver.present(challenges.slice(0, 1));
        await Promise.all(
          spec.identifiers.map(async ({ value: host }) => {
            const problem = await probe(challengeUrl(host, port, token), value, requestTimeoutMs);
            if (problem) problems.push(problem);
          }),
        );
      } finally {
        // Always: a probe object left behind would be served to anyone asking for it.
        await solver.cleanup(challenges.slice(0, 1));
      }
      if (problems.length) {
        return {
          status: 'fail',
          message: `certificate ${spec.name}: ${problems.join('; ')}`,
          fix: `serve /.well-known/acme-challenge/ on port ${port} from the bucket's challenges/http-01/ (certkeeper agent --http01-listen, or proxy the path to it from nginx/Caddy), and open the port to the CA`,
        };
      }
      return {
        status: 'ok',
        message: `certificate ${spec.name}: a probe token is served on port ${port} of ${spec.identifiers.map((i) => i.value).join(', ')}`,
      };
    },
  };
}

function challengeUrl(host: string, port: number, token: string): string {
  const authority = host.includes(':') ? `[${host}]` : host;
  return `http://${authority}:${port}/.well-known/acme-challenge/${token}`;
}

/** Undefined when the probe came back intact; else what went wrong, for the message. */
async function probe(url: string, expected: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    if (response.status !== 200) return `${url} answered HTTP ${response.status}`;
    if (body.trim() !== expected) return `${url} answered something other than the probe token`;
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return `${url} could not be fetched (${cause ?? (err as Error).message})`;
  }
}
