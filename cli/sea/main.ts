/**
 * The single executable's main script (scripts/build-cli.ts bundles it to
 * dist/cli/sea-main.cjs): runs the CLI bundle, an asset of the executable, with the V8 code
 * cache made at build time for the command it is asked to run (see bundle.ts). Without the cache asset (an executable built for
 * another architecture, whose V8 code this machine could not check) the bundle is compiled
 * as Node would. CERTKEEPER_DEBUG_CODE_CACHE=1 says on stderr whether V8 took the cache.
 */
import { dirname } from 'node:path';
import { getAsset } from 'node:sea';
import { BUNDLE_ASSET, cacheFor, codeCacheAsset, compileBundle, runBundle } from './bundle.js';

function cachedData(): Buffer | undefined {
  try {
    return Buffer.from(getAsset(codeCacheAsset(cacheFor(process.argv.slice(2)))));
  } catch {
    // Not in this executable (one built for another architecture).
    return undefined;
  }
}

const cache = cachedData();
const script = compileBundle(getAsset(BUNDLE_ASSET, 'utf8'), process.execPath, cache);
if (process.env.CERTKEEPER_DEBUG_CODE_CACHE) {
  const state = !cache ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  process.stderr.write(`certkeeper: code cache ${state}\n`);
}
// The SEA's own require: node builtins only, as the bundle needs.
runBundle(script, require, process.execPath, dirname(process.execPath));
