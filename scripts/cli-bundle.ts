/**
 * The certkeeper command (the operator CLI and the agent) as one self-contained file,
 * `dist/cli/certkeeper.cjs`: every dependency bundled (esbuild, with the Lambda build's size
 * plugins from infra/bundle/), a `#!/usr/bin/env node` line; package.json's `bin`. Licence
 * notices of what it contains go beside it (`certkeeper.cjs.LEGAL.txt`). The single
 * executable is made from this file (sea-build.ts); scripts/build-cli.ts runs both.
 *
 * CommonJS rather than ESM because Node 22's SEA runs one CommonJS script; the npm `bin`
 * is the same file so what is tested is what ships.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { axiosModuleBuild } from '../infra/bundle/axios-module-build.js';
import { lazyAcmeCrypto } from '../infra/bundle/lazy-acme-crypto.js';
import { lazyFormDataGlobal } from '../infra/bundle/lazy-formdata-global.js';
import { literalSchemaKeys } from '../infra/bundle/literal-schema-keys.js';
import { packageVersionOnly } from '../infra/bundle/package-version-only.js';
import { STAND_INS, standInsPlugin } from '../infra/bundle/stand-ins.js';
import { pageAssetsPlugin } from '../cli/dashboard/page-build.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_DIR = path.join(ROOT, 'dist', 'cli');
export const CLI_BUNDLE = path.join(CLI_DIR, 'certkeeper.cjs');

/**
 * The CLI does not take the Lambdas' credential stand-in: operators sign in with profiles
 * and SSO, and the agent on EC2 takes the instance role, all of which the full chain reads.
 * The other stand-ins replace code the CLI never runs either (see infra/bundle/stand-ins.ts).
 */
const CLI_STAND_INS = STAND_INS.filter((s) => s.name !== 'credential-provider-node');

/** `--version` and the top-level help, rendered from the full program so they cannot drift. */
async function buildFacts(): Promise<{ version: string; help: string }> {
  const { buildProgram, version } = await import('../cli/main.js');
  const program = await buildProgram();
  // Commander wraps to the terminal's width; a built-in text is rendered for 80 columns.
  program.configureHelp({ helpWidth: 80 });
  return { version: version(), help: program.helpInformation() };
}

export interface BuiltBundle {
  file: string;
  bytes: number;
  version: string;
}

export async function bundleCli(
  outFile = CLI_BUNDLE,
  options: { sourcemap?: boolean } = {},
): Promise<BuiltBundle> {
  const facts = await buildFacts();
  mkdirSync(path.dirname(outFile), { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    stdin: {
      // The entry: run and exit. exit() rather than exitCode: idle keep-alive sockets of the
      // AWS clients must not hold the process.
      // A closed pipe (`certkeeper --help | head`) ends the output, not with a stack trace.
      contents: [
        "import { main } from './cli/main.ts';",
        "process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); throw err; });",
        'main().then((code) => process.exit(code));',
      ].join('\n'),
      resolveDir: ROOT,
      sourcefile: 'certkeeper-entry.ts',
      loader: 'ts',
    },
    outfile: outFile,
    bundle: true,
    platform: 'node',
    // package.json engines (npm installs); the executable embeds Node 22.
    target: 'node20',
    format: 'cjs',
    mainFields: ['module', 'main'],
    minify: true,
    treeShaking: true,
    // The executable reads it back one byte per character (cli/sea/main.ts).
    charset: 'ascii',
    legalComments: 'linked',
    // For profiles (node --cpu-prof): maps the minified bundle back to the sources; not shipped.
    ...(options.sourcemap ? { sourcemap: 'external' as const } : {}),
    banner: {
      js: [
        '#!/usr/bin/env node',
        // cli/main.ts asks import.meta.url whether it is the entry (tsx); CommonJS has none.
        "var __certkeeperMetaUrl = require('node:url').pathToFileURL(__filename).href;",
      ].join('\n'),
    },
    define: {
      CERTKEEPER_BUILD: JSON.stringify(facts),
      'import.meta.url': '__certkeeperMetaUrl',
    },
    logLevel: 'warning',
    plugins: [
      literalSchemaKeys,
      standInsPlugin(CLI_STAND_INS),
      axiosModuleBuild,
      lazyFormDataGlobal,
      lazyAcmeCrypto,
      packageVersionOnly,
      // The dashboard's page, built now and carried in the bundle (cli/dashboard/assets.ts).
      pageAssetsPlugin(),
    ],
  });
  if (result.errors.length) throw new Error('esbuild failed');
  chmodSync(outFile, 0o755);
  return { file: outFile, bytes: statSync(outFile).size, version: facts.version };
}
