/**
 * What to do about a certificate's last failed attempt. The inventory keeps the error's
 * code, its ACME problem type and detail, not the fix the error carried when it was thrown
 * (shared/renewal/transition.ts stores `message`), so the fix for people reading the state
 * later is looked up here from the problem type (RFC 8555 §6.7; alreadyReplaced from RFC 9773 §5) or, for
 * errors that were not the CA's, from certkeeper's own error code.
 */
import { shortProblemType } from '../../shared/model/errors.js';
import type { LastError } from '../../shared/model/state.js';

const DOCTOR = 'run `certkeeper doctor` to check the CA, the account and the challenge path';

/** By the problem type without its `urn:ietf:params:acme:error:` prefix. */
const BY_PROBLEM: Record<string, string> = {
  accountDoesNotExist:
    'the CA no longer knows the ACME account: delete the account object under accounts/ in the bucket so the next attempt registers a new one',
  alreadyReplaced:
    'the certificate was already replaced by another order (RFC 9773 `replaces`): nothing to do, the next attempt orders without it',
  badCSR:
    'the CA refused the certificate request: check the identifiers and that the CA accepts the key type (ecdsa-p256 is accepted everywhere)',
  badNonce: 'nothing to do: a stale nonce is retried at once with a fresh one; it only matters if it repeats',
  badPublicKey: 'the CA does not accept this key type or size: declare another keyType (e.g. ecdsa-p256)',
  badSignatureAlgorithm:
    'the CA does not accept the account key or the request signature algorithm: report it with the CA name',
  caa: 'a CAA record on the name does not allow this CA: add an `issue` record for it (RFC 8659), or see the CAA check of `certkeeper doctor`',
  compound: 'several problems at once: the detail lists one per identifier; fix each',
  connection: `the CA could not connect to the server for the challenge: for http-01, port 80 of every name must reach certkeeper's responder; for tls-alpn-01, port 443; ${DOCTOR}`,
  dns: 'the CA could not resolve the name: check that it resolves publicly and, for dns-01, that the _acme-challenge record is in the right hosted zone (`certkeeper doctor`)',
  externalAccountRequired:
    'the CA needs an external account binding: set `eab` (kid and the HMAC key secret) for this CA in the config',
  incorrectResponse:
    'the CA received a different answer than expected: another server, proxy or CDN answers the challenge; route /.well-known/acme-challenge/ (or port 443 for tls-alpn-01) to certkeeper, or use dns-01',
  invalidContact: 'the CA refused the contact address: correct the contact email in the config',
  unsupportedContact: 'the CA refused the contact address: use a mailto: address in the config',
  malformed:
    'the CA refused the request as malformed: if the detail does not name a field to change, report it',
  orderNotReady: 'nothing to do: the next attempt starts a fresh order',
  rateLimited:
    "the CA's rate limit: certkeeper waits until the time the CA gave; avoid forced renewals until then, or let a fallback CA issue",
  rejectedIdentifier:
    'the CA will not issue for this name or address: remove it from the identifiers, or let another CA (cas) issue it',
  serverInternal:
    'the CA failed on its side: retried with backoff; a fallback CA (cas) takes over after repeated failures when one is configured',
  tls: `the CA's TLS connection to the server failed during validation: check the tls-alpn-01 responder on port 443; ${DOCTOR}`,
  unauthorized: `the CA found no valid authorization: the challenge answer did not reach it, or the account may not issue for the name; ${DOCTOR}`,
  unsupportedIdentifier:
    "the CA does not issue for this kind of identifier: IP addresses need an IP-capable profile (Let's Encrypt: shortlived) or another CA",
  userActionRequired: 'the CA requires a person to act (e.g. agree to new terms): open the URL in the detail',
};

/** By certkeeper's error code (shared/model/errors.ts), when it was not an ACME problem. */
const BY_CODE: Record<string, string> = {
  validation: "correct the certificate's declaration or the config: the detail names the field",
  'not-found': 'declare what the detail names as missing (a hosted zone, a bucket object), then renew',
  'retry-later': 'nothing to do: the next attempt waits until the time the CA or AWS asked for',
  unreachable: `the issuer could not reach the CA or an AWS service: check the network path and endpoints; ${DOCTOR}`,
  conflict: 'nothing to do: another worker held the certificate; the next attempt goes on',
  integrity:
    'a stored object does not match its manifest: renew with `certkeeper renew NAME --force` and find out who changed the bucket',
  internal: "an unexpected error: see the issuer Lambda's logs around that time, and report it",
};

export function problemFix(error: Pick<LastError, 'code' | 'type'>): string {
  const byProblem = error.type ? BY_PROBLEM[shortProblemType(error.type)] : undefined;
  return byProblem ?? BY_CODE[error.code] ?? BY_CODE.internal!;
}
