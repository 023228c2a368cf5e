import * as z from 'zod';

/**
 * The enumerations the state and the events share, in a module of their own so that the
 * state (which keeps unpublished events) and the event (which names a status) can both
 * import them without importing each other.
 */
export const CERTIFICATE_STATUSES = [
  'pending', // declared, never issued
  'valid', // a certificate is in place and not yet due
  'failing', // repeated renewal failures; attempts go on
  'expired', // the current certificate has lapsed
  'retired', // removed from the config; files kept
] as const;
export const certificateStatusSchema = z.enum(CERTIFICATE_STATUSES);
export type CertificateStatus = z.infer<typeof certificateStatusSchema>;

/** Expiry warnings: at 1/3 of the lifetime left while renewal fails, and under 24 h left. */
export const EXPIRY_ALERTS = ['third', 'day'] as const;
export const expiryAlertSchema = z.enum(EXPIRY_ALERTS);
export type ExpiryAlert = z.infer<typeof expiryAlertSchema>;
