/**
 * The single executable's main script (scripts/sea-build.ts bundles it to
 * dist/cli/sea-main.cjs): runs the CLI bundle, an asset of the executable, with the V8 code
 * cache made at build time for the command it is asked to run (see bundle.ts). Without the cache asset (an executable built for
 * another architecture, whose V8 code this machine could not check) the bundle is compiled
 * as Node would. CERTKEEPER_DEBUG_CODE_CACHE=1 says on stderr whether V8 took the cache.
 */
import { dirname } from 'node:path';
import { getRawAsset } from 'node:sea';
import { BUNDLE_ASSET, cacheFor, codeCacheAsset, compileBundle, runBundle } from './bundle.js';

// getRawAsset: the bytes inside the executable, not a copy (V8 only reads them).
const raw = (key: string): Buffer => Buffer.from(getRawAsset(key) as ArrayBuffer);

function cachedData(): Buffer | undefined {
  try {
    return raw(codeCacheAsset(cacheFor(process.argv.slice(2))));
  } catch {
    // Not in this executable (one built for another architecture).
    return undefined;
  }
}

const cache = cachedData();
const script = compileBundle(raw(BUNDLE_ASSET).toString('latin1'), process.execPath, cache);
if (process.env.CERTKEEPER_DEBUG_CODE_CACHE) {
  const state = !cache ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  process.stderr.write(`certkeeper: code cache ${state}\n`);
}
// The SEA's own require: node builtins only, as the bundle needs.
runBundle(script, require, process.execPath, dirname(process.execPath));
