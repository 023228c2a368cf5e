/** Key types for certificate private keys. ECDSA P-256 is the default: small, fast, universal. */
export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa2048', 'rsa3072', 'rsa4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';
