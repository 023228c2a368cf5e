import { AcmeProblemError, shortProblemType } from '../../shared/model/errors.js';
import {
  type AcmeAccounts,
  type CertificateAuthority,
  type AccountSettings,
  accountIdFor,
  checkProfile,
} from '../../shared/acme/index.js';
import type { AcmeTransport } from '../../shared/acme/transport.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import { accountKey } from '../../shared/store/layout.js';
import type { ObjectStore } from '../../shared/store/store.js';
import { type CheckResult, type CheckSpec, failure } from './check.js';

/** Skew the CA tolerates in practice; beyond it JWS nonces and notBefore dates misbehave. */
export const SKEW_FAIL_SECONDS = 5 * 60;
/** Beyond this the clock is drifting: not yet harmful, but NTP is evidently not running. */
export const SKEW_WARN_SECONDS = 30;

const NTP_FIX =
  'enable time synchronisation on this machine (chrony or systemd-timesyncd: `timedatectl set-ntp true`) and check that UDP 123 is allowed out';

/**
 * GETs the directory the way the issuer does (`ca.directory()`: the same transport, the
 * same trust of CERTKEEPER_ACME_CA_PEM or the system roots), so a TLS or URL problem shows
 * here exactly as it would in a renewal; then checks what issuance relies on in it.
 */
export function directoryCheck(
  ca: CertificateAuthority,
  specs: readonly CertificateSpec[],
  trust: string,
  /** A fallback CA's name, so each CA of a `cas` list has its own line. */
  caName?: string,
): CheckSpec {
  const id = caName ? `ca-directory:${caName}` : 'ca-directory';
  return {
    id,
    timeoutFix: `check that ${ca.directoryUrl} is reachable from here (proxy, firewall, NAT egress)`,
    async run() {
      const dir = await ca.directory();
      const names = Object.keys(dir.profiles);
      const profiles = names.length ? `profiles ${names.join(', ')}` : 'no profiles listed';
      const reached = `${dir.url} answers over TLS trusted by ${trust}; ${profiles}`;
      // A certificate asking for a profile the CA does not offer fails every order.
      const unknown = specs.filter((s) => s.profile !== undefined && !names.includes(s.profile));
      for (const spec of unknown) {
        try {
          checkProfile(spec.profile, dir);
        } catch (err) {
          const result = failure(id, err);
          return { ...result, message: `certificate ${spec.name}: ${result.message}` };
        }
      }
      if (!dir.renewalInfo) {
        return {
          status: 'warn',
          message: `${reached}; no renewalInfo: the CA offers no ARI (RFC 9773)`,
          fix: 'nothing breaks: renewal times follow the certificate lifetime instead of the CA’s suggested window',
        };
      }
      return { status: 'ok', message: `${reached}; ARI (renewalInfo) offered` };
    },
  };
}

export interface AccountCheckOptions {
  objects: ObjectStore;
  /** Where `objects` lives, for the message ("s3://bucket"). */
  location: string;
  accounts: AcmeAccounts;
  settings: AccountSettings;
  /** A fallback CA's name, so each CA of a `cas` list has its own line. */
  caName?: string;
}

/**
 * The stored ACME account and what the CA thinks of it. Read-only on purpose: a key that
 * was never registered is reported, not registered (registration counts against the CA's
 * new-account limit and is the issuer's job).
 */
export function accountCheck(options: AccountCheckOptions): CheckSpec {
  const { objects, accounts, settings } = options;
  const key = accountKey(settings.directoryUrl, accountIdFor(settings.email));
  const where = `${options.location}/${key}`;
  return {
    id: options.caName ? `acme-account:${options.caName}` : 'acme-account',
    timeoutFix: `check that ${settings.directoryUrl} and the bucket are reachable from here`,
    async run() {
      const text = await objects.get(key);
      if (text === undefined) {
        return {
          status: 'warn',
          message: `no ACME account stored at ${where}`,
          fix: 'nothing to do if nothing was issued yet: the first issuance registers the account and stores it there',
        };
      }
      if (!registeredUrl(text)) {
        return {
          status: 'warn',
          message: `the account key at ${where} was stored but never registered with the CA`,
          fix: 'nothing to do: the next issuance registers this key',
        };
      }
      // A stored URL means get() only loads the key; it does not register anything.
      const account = await accounts.get(settings);
      try {
        // RFC 8555 §7.3.2: POST-as-GET on the account URL returns the account object.
        const object = (await account.client().updateAccount({})) as { status?: string };
        if (object.status === 'valid') {
          return { status: 'ok', message: `account ${account.url} is valid` };
        }
        return deactivated(account.url, object.status ?? 'unknown');
      } catch (err) {
        if (err instanceof AcmeProblemError) {
          const type = shortProblemType(err.type);
          if (type === 'accountDoesNotExist') {
            return {
              status: 'warn',
              message: `the CA no longer knows account ${account.url}`,
              fix: 'nothing to do: the next issuance registers the stored key again (same key, new URL)',
            };
          }
          // RFC 8555 §7.3.6: a deactivated or revoked account is refused as unauthorized.
          if (type === 'unauthorized') return deactivated(account.url, `refused (${err.message})`);
        }
        throw err;
      }
    },
  };
}

function deactivated(url: string, status: string): Omit<CheckResult, 'id'> {
  return {
    status: 'fail',
    message: `account ${url} is ${status}: the CA refuses every order from it`,
    fix: 'move the account object aside (keep a copy) so the next issuance registers a new account, then check why it was deactivated (the CA’s e-mail to the contact)',
  };
}

/** Just the `url` field: the full record is parsed (and validated) by AcmeAccounts.get. */
function registeredUrl(text: string): string | undefined {
  try {
    const url = (JSON.parse(text) as { url?: unknown }).url;
    return typeof url === 'string' ? url : undefined;
  } catch {
    // Unreadable: let AcmeAccounts report it with its fix.
    return 'unreadable';
  }
}

/**
 * The CA's clock against ours, from the HTTP Date header of a directory GET. Date has
 * one-second resolution and is stamped while the answer is on its way, so the middle of
 * the round trip is the fairest local time to compare it with, and a second either way is
 * noise.
 */
export function clockCheck(
  transport: AcmeTransport,
  directoryUrl: string,
  now: () => Date = () => new Date(),
): CheckSpec {
  return {
    id: 'clock-skew',
    timeoutFix: `check that ${directoryUrl} is reachable from here`,
    async run() {
      const sent = now().getTime();
      let response;
      try {
        response = await transport.get(directoryUrl);
      } catch (err) {
        // The directory check reports why; failing twice for one cause would be noise.
        return {
          status: 'warn',
          message: `not checked: the CA's Date could not be read (${failure('', err).message})`,
          fix: 'see ca-directory',
        };
      }
      const local = (sent + now().getTime()) / 2;
      const header = response.headers['date'];
      const caTime = typeof header === 'string' ? Date.parse(header) : Number.NaN;
      if (Number.isNaN(caTime)) {
        return {
          status: 'warn',
          message: `${directoryUrl} sent no usable Date header`,
          fix: 'compare this machine’s time with a trusted source by hand (`chronyc tracking`)',
        };
      }
      const seconds = Math.round((local - caTime) / 1000);
      const magnitude = Math.abs(seconds);
      const direction = seconds > 0 ? 'ahead of' : 'behind';
      const described = `this machine's clock is ${magnitude} s ${direction} the CA's`;
      if (magnitude > SKEW_FAIL_SECONDS) return { status: 'fail', message: described, fix: NTP_FIX };
      if (magnitude > SKEW_WARN_SECONDS) return { status: 'warn', message: described, fix: NTP_FIX };
      return {
        status: 'ok',
        message:
          magnitude <= 1 ? "in step with the CA's clock" : `${described} (within ${SKEW_WARN_SECONDS} s)`,
      };
    },
  };
}
