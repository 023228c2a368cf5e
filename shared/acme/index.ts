/** The ACME client layer: the CertificateAuthority port and its acme-client adapter. */
export type {
  AcmeDirectoryInfo,
  CertificateAuthority,
  IssuedCertificate,
  OrderRequest,
  OrderStep,
  RenewalInfo,
  RevocationReason,
} from './ca.js';
export { REVOCATION_REASONS } from './ca.js';
export {
  AcmeAccount,
  AcmeAccounts,
  accountIdFor,
  type AccountSettings,
  type ExternalAccountBinding,
} from './account.js';
export { DEFAULT_POLLING, PollSchedule, plannedDelays, type PollingOptions } from './poll.js';
export { AcmeCertificateAuthority, type AcmeCaOptions } from './client.js';
export { checkProfile } from './order-answers.js';
export { parseDirectory } from './directory.js';
export { AcmeTransport, DEFAULT_TRANSPORT_POLICY, type TransportPolicy } from './transport.js';
