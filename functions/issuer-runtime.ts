import { type IssuerRuntime, issuerRuntimeFor } from '../composition/aws-issuer.js';
import { type Runtime, runtime } from './runtime.js';

const built = new WeakMap<Runtime, Promise<IssuerRuntime>>();

/**
 * The issuer's runtime (composition/aws-issuer.ts), once per cold start (and per
 * resetRuntime in tests), like runtime().
 */
export function issuerRuntime(): Promise<IssuerRuntime> {
  return runtime().then((core) => {
    let issuer = built.get(core);
    if (!issuer) {
      issuer = issuerRuntimeFor(core);
      // A secret that could not be read is not cached: the next invocation retries.
      issuer.catch(() => built.delete(core));
      built.set(core, issuer);
    }
    return issuer;
  });
}
