/**
 * The npm package as someone else's project gets it: `npm pack` of this checkout (its
 * prepack builds dist/), installed from the tarball into a new app and globally (into a
 * private prefix), then `npx certkeeper`, the global `certkeeper`, and a CDK app that
 * imports `certkeeper/infra`, is typechecked against the package's declarations and
 * synthesizes. aws-cdk-lib and constructs are the app's peers: linked from this checkout's
 * node_modules rather than installed again. Runs in the `installed` project (one file at a
 * time, after the repo's tests: prepack rewrites dist/).
 */
import { execFile } from 'node:child_process';
import { type Exited, runToEnd } from '../../scripts/test-kit/child.js';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../packaging/deb.js';
import { FUNCTION_NAMES } from '../../infra/issuer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = packageVersion();
const work = mkdtempSync(path.join(tmpdir(), 'certkeeper-npm-'));
const app = path.join(work, 'app');
let tarball: string;

const execFileAsync = promisify(execFile);

/**
 * npm with the warm cache first (the registry only for what the cache lacks), quiet. Not
 * execFileSync: a pack or install takes a minute or more on a busy machine, and a blocked
 * worker misses vitest's heartbeat.
 */
async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** A process to its end, without blocking this worker. */
const run = (command: string, args: string[], cwd?: string): Promise<Exited> =>
  runToEnd(command, args, { cwd });

beforeAll(async () => {
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(work, packed[0]!.filename);
  const files = packed[0]!.files.map((f) => f.path);
  // The built command and Lambdas, never the 100 MB executable or the sources.
  expect(files).toContain('dist/cli/certkeeper.cjs');
  expect(files).toContain('dist/lambdas/issuer/index.mjs');
  expect(files.filter((f) => /certkeeper-linux|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);

  mkdirSync(app, { recursive: true });
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await npm(['install', tarball], app);
  for (const peer of ['aws-cdk-lib', 'constructs']) {
    symlinkSync(path.join(ROOT, 'node_modules', peer), path.join(app, 'node_modules', peer), 'dir');
  }
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  it('runs as `npx certkeeper` in the app that installed it', async () => {
    const version = await run('npx', ['--no-install', 'certkeeper', '--version'], app);
    expect(version.stdout).toBe(`${VERSION}\n`);
    expect(version.code).toBe(0);
    const help = await run('npx', ['--no-install', 'certkeeper', 'issue', '--help'], app);
    expect(help.stdout).toMatch(/^Usage: certkeeper issue \[options\]/);
  });

  it('installs globally (npm install -g) as a `certkeeper` command', { timeout: 300_000 }, async () => {
    const prefix = path.join(work, 'global');
    await npm(['install', '-g', '--prefix', prefix, tarball], work);
    const version = await run(path.join(prefix, 'bin', 'certkeeper'), ['--version']);
    expect(version.stdout).toBe(`${VERSION}\n`);
  });

  it(
    'gives a CDK app a typed CertkeeperIssuer from certkeeper/infra that synthesizes with the packaged Lambdas',
    { timeout: 300_000 },
    async () => {
      writeFileSync(
        path.join(app, 'app.ts'),
        `import { App, Stack } from 'aws-cdk-lib';
import { CertkeeperIssuer, type CertkeeperIssuerProps } from 'certkeeper/infra';

const app = new App({ outdir: process.argv[2] });
const stack = new Stack(app, 'Consumer');
const props: CertkeeperIssuerProps = {
  directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
  scheduleMinutes: 30,
};
// @ts-expect-error scheduleMinutes is a number: the props are typed, not any
const wrong: CertkeeperIssuerProps = { directoryUrl: 'x', scheduleMinutes: 'often' };
void wrong;
new CertkeeperIssuer(stack, 'Certkeeper', props);
app.synth();
`,
      );
      writeFileSync(
        path.join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            typeRoots: [path.join(ROOT, 'node_modules', '@types')],
            types: ['node'],
          },
          files: ['app.ts'],
        }),
      );
      const tsc = await run(process.execPath, [
        path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        app,
      ]);
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.code).toBe(0);

      const out = path.join(work, 'cdk.out');
      const tsx = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
      const synth = await run(process.execPath, ['--import', tsx, 'app.ts', out], app);
      expect(synth.code, synth.stderr).toBe(0);
      const template = JSON.parse(readFileSync(path.join(out, 'Consumer.template.json'), 'utf8')) as {
        Resources: Record<string, { Type: string; Properties?: { Handler?: string } }>;
      };
      const functions = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Handler === 'index.handler',
      );
      // One per Lambda of the stack (FUNCTION_NAMES): scheduler, issuer, notifier, inventory-sync, fleet.
      expect(functions).toHaveLength(FUNCTION_NAMES.length);
      // Each asset is a bundle from the package: index.mjs exporting the handler.
      const bundles = readdirSync(out)
        .filter((d) => d.startsWith('asset.'))
        .filter((d) => existsSync(path.join(out, d, 'index.mjs')));
      expect(bundles.length).toBeGreaterThanOrEqual(FUNCTION_NAMES.length);
      for (const dir of bundles)
        expect(readFileSync(path.join(out, dir, 'index.mjs'), 'utf8')).toMatch(/handler/);
    },
  );

  it('loads from a CommonJS app too', async () => {
    const cjs = await run(
      process.execPath,
      ['-e', "const m = require('certkeeper/infra'); process.stdout.write(typeof m.CertkeeperIssuer)"],
      app,
    );
    expect(cjs.stdout, cjs.stderr).toBe('function');
  });
});
