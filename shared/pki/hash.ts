import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of text (UTF-8) or bytes: manifest file digests, account ids. */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
