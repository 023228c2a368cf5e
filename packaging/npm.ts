/**
 * What the npm package holds, built before `npm pack` (package.json `prepack`):
 *
 *   npx tsx packaging/npm.ts
 *
 * - dist/cli/certkeeper.cjs            the command (`bin`), self-contained (scripts/cli-bundle.ts)
 * - dist/lambdas/<name>/index.mjs      the Lambda bundles (infra/bundle.ts)
 * - dist/infra/index.{mjs,cjs}         `certkeeper/infra` (packaging/infra.ts): the CDK construct,
 *                                      aws-cdk-lib and constructs left to the app (peers)
 * - dist/types/                        its declarations (tsc), package.json `exports` types
 *
 * The executable and the Debian package are not in it (scripts/sea-build.ts, packaging/deb.ts).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { buildLambdas, DEFAULT_OUT_DIR, kb } from '../infra/bundle.js';
import { bundleCli } from '../scripts/cli-bundle.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const INFRA_DIR = path.join(ROOT, 'dist', 'infra');
const TYPES_DIR = path.join(ROOT, 'dist', 'types');

/** The construct's module, in both module systems: CDK apps are written in either. */
export async function bundleInfra(): Promise<string[]> {
  const common: esbuild.BuildOptions = {
    absWorkingDir: ROOT,
    entryPoints: [path.join(ROOT, 'packaging', 'infra.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    // The app's own copies: one construct tree, one aws-cdk-lib (Stack.of, Aspects, tokens).
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'],
    // The construct uses cdk-nag's NagSuppressions only (metadata on resources); cdk-nag's
    // index also loads every rule pack, which is most of the package and reads __filename.
    alias: { 'cdk-nag': 'cdk-nag/lib/nag-suppressions.js' },
    legalComments: 'linked',
    logLevel: 'warning',
  };
  const esm = path.join(INFRA_DIR, 'index.mjs');
  const cjs = path.join(INFRA_DIR, 'index.cjs');
  await esbuild.build({
    ...common,
    format: 'esm',
    outfile: esm,
    // cdk-nag (bundled) is CommonJS and requires aws-cdk-lib, which stays external.
    banner: {
      js: "import { createRequire as __ckRequire } from 'node:module';\nconst require = __ckRequire(import.meta.url);",
    },
  });
  await esbuild.build({
    ...common,
    format: 'cjs',
    outfile: cjs,
    banner: { js: "var __ckMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__ckMetaUrl' },
  });
  return [esm, cjs];
}

export function emitInfraTypes(): void {
  rmSync(TYPES_DIR, { recursive: true, force: true });
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(ROOT, 'packaging', 'tsconfig.infra.json')], {
    stdio: 'inherit',
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const lambdas = await buildLambdas({ outDir: DEFAULT_OUT_DIR });
  const cli = await bundleCli();
  const infra = await bundleInfra();
  emitInfraTypes();
  // On stderr: this is npm's prepack, and `npm pack --json` prints its report on stdout.
  for (const file of [cli.file, ...lambdas.map((l) => l.file), ...infra]) {
    console.error(`${path.relative(ROOT, file)}  ${kb(statSync(file).size)}`);
  }
  console.error(`npm package contents built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
