import { type Authority, caaCandidates } from '../../shared/authorities/authorities.js';
import type { CaaResolver } from '../../shared/dns/resolver.js';
import { caaNames } from '../../shared/authorities/caa.js';
import type { Log } from '../../shared/model/log.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import type { CheckSpec } from './check.js';

const CAA_FIX =
  'add a CAA "issue" record naming the CA at the name shown (RFC 8659; with accounturi=<the account URL shown> where the records bind accounts, RFC 8657), or configure a CA the records allow';

/**
 * Whether the names' CAA records let the configured CAs issue this certificate, read the way
 * the issuer reads them before it chooses a CA (shared/authorities/: RFC 8659, with
 * RFC 8657's validationmethods and accounturi), so a record that would stop renewals shows up
 * before one does. The issuer reads CAA only with several CAs and otherwise leaves it to the
 * CA; doctor reads it always. ok: the first CA may issue. warn: it may not, but a fallback
 * may, and renewals go there; or a lookup failed. fail: no configured CA may. A CA whose CAA
 * identity is unknown cannot be judged and counts as allowed. IP certificates have no CAA
 * (RFC 8738 §7) and get no line.
 */
export function caaCheck(
  resolver: CaaResolver,
  spec: CertificateSpec,
  authorities: readonly Authority[],
): CheckSpec | undefined {
  if (caaNames(spec.identifiers).length === 0) return undefined;
  return {
    id: `caa:${spec.name}`,
    timeoutFix:
      "check that the DNS resolvers (CERTKEEPER_DNS_RESOLVERS, else the system's) answer CAA queries",
    async run() {
      // caaCandidates says what it could not judge (a lookup, an account URL) in warnings.
      const unjudged: string[] = [];
      const log: Log = {
        debug() {},
        info() {},
        error() {},
        warn: (message, extra) =>
          unjudged.push(`${String(extra?.name ?? extra?.ca)}: ${message} (${String(extra?.error)})`),
      };
      const candidates = await caaCandidates(resolver, spec, authorities, log);
      const allowed = candidates.filter((c) => !c.caaRefusal).map((c) => c.name);
      const refused = candidates.filter((c) => c.caaRefusal).map((c) => `${c.name}: ${c.caaRefusal}`);
      const of = `certificate ${spec.name}`;
      if (allowed.length === 0) {
        return {
          status: 'fail',
          message: `${of}: CAA forbids every configured CA (${refused.join('; ')})`,
          fix: CAA_FIX,
        };
      }
      if (refused.length > 0 && candidates[0]!.caaRefusal) {
        return {
          status: 'warn',
          message: `${of}: renewals go to ${allowed[0]}, not the first CA (${refused.join('; ')})`,
          fix: CAA_FIX,
        };
      }
      if (unjudged.length > 0) {
        return {
          status: 'warn',
          message: `${of}: CAA not fully judged (${unjudged.join('; ')}); the CA checks it itself`,
          fix: "check that the DNS resolvers (CERTKEEPER_DNS_RESOLVERS, else the system's) answer CAA queries",
        };
      }
      const others = refused.length > 0 ? `; not ${refused.join('; ')}` : '';
      return { status: 'ok', message: `${of}: CAA allows ${allowed.join(', ')}${others}` };
    },
  };
}
