import { readFileSync } from 'node:fs';
import { ValidationError } from '../../shared/model/errors.js';

/**
 * The PEM trusted for the CA's HTTPS: `--ca-file`, else CERTKEEPER_ACME_CA_PEM (the PEM itself
 * or a path, as the Lambdas read it), else the system roots (undefined). Read up front, so a
 * wrong path is a usage error.
 */
export function readCaFile(path: string | undefined, flag = '--ca-file'): string | undefined {
  if (!path) {
    const env = process.env.CERTKEEPER_ACME_CA_PEM;
    if (!env) return undefined;
    return env.startsWith('-----BEGIN') ? env : readCaFile(env, 'CERTKEEPER_ACME_CA_PEM');
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValidationError(
      flag,
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      'give the path of the PEM file of the CA behind the ACME server',
    );
  }
}
