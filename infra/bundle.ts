/**
 * The Lambda bundler: every Lambda in functions/ becomes one self-contained ES module.
 * The CDK app (infra/app.ts) bundles with it before synthesizing, and scripts/build.ts
 * (`npm run build`) is its command line. `buildLambdas` writes `<DIR>/<name>/index.mjs`
 * (default DIR: dist/lambdas), handler `index.handler`. Each bundle carries all of its
 * dependencies (AWS SDK v3 clients, acme-client, Powertools, zod), so a Lambda's code asset
 * is exactly that directory and no node_modules is deployed: the bundle, the licence
 * notices of what it contains (`index.mjs.LEGAL.txt`) and, with --sourcemap, its map. The
 * esbuild metafile (what each byte is, for esbuild's analyzer) goes beside the
 * directories, in `<DIR>/meta.json`, so it is not zipped with any of them.
 *
 * A Lambda is a `functions/*.ts` file that exports `handler`; `runtime.ts` and `*-runtime.ts`
 * are composition helpers the Lambdas import, not Lambdas themselves. The esbuild plugins
 * that keep the bundles small, and the modules that stand in for code the Lambdas never run,
 * are in infra/bundle/, each with why it is safe.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { axiosModuleBuild } from './bundle/axios-module-build.js';
import { lazyFormDataGlobal } from './bundle/lazy-formdata-global.js';
import { literalSchemaKeys } from './bundle/literal-schema-keys.js';
import { packageVersionOnly } from './bundle/package-version-only.js';
import { standInsPlugin } from './bundle/stand-ins.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FUNCTIONS = path.join(ROOT, 'functions');
export const DEFAULT_OUT_DIR = path.join(ROOT, 'dist', 'lambdas');
/** The file each Lambda's handler setting points at: `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';
/**
 * The budget each bundle stays under, 1 MB (MiB): cold start grows with the code Node has to
 * parse and run at import. test/integration/bundles.test.ts holds the bundles to it.
 */
export const BUNDLE_BUDGET_BYTES = 1024 * 1024;

export interface BuildOptions {
  /** Where `<name>/index.mjs` go; default dist/lambdas. */
  outDir?: string;
  /** Build only these Lambdas (file names without `.ts`); an unknown name is an error. */
  only?: string[];
  /** Also write `index.mjs.map` (run the Lambda with NODE_OPTIONS=--enable-source-maps). */
  sourcemap?: boolean;
}

export interface BuiltLambda {
  name: string;
  /** The Lambda's code asset: a directory holding `index.mjs` (and its map, if asked for). */
  dir: string;
  file: string;
  bytes: number;
  /** Bytes of the bundle each package (or first-party folder) accounts for, largest first. */
  contributors: { source: string; bytes: number }[];
}

/**
 * An ES module has no `require`, but CommonJS packages in the bundle (acme-client, debug,
 * follow-redirects) `require('crypto')`, `require('https')`: esbuild leaves those node
 * builtins external and calls a `require` it expects in scope, which would throw "Dynamic
 * require of ... is not supported" at cold start. The names are unusual so they cannot
 * collide with the bundle's own (minified) top-level names.
 */
const REQUIRE_BANNER = [
  "import { createRequire as __certkeeperCreateRequire } from 'node:module';",
  'const require = __certkeeperCreateRequire(import.meta.url);',
].join('\n');

/** `functions/*.ts` that may be Lambdas, by name; whether each exports `handler` is checked on the bundle. */
async function candidates(): Promise<string[]> {
  const files = await readdir(FUNCTIONS);
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .filter((name) => name !== 'runtime' && !name.endsWith('-runtime'))
    .sort();
}

export async function buildLambdas(options: BuildOptions = {}): Promise<BuiltLambda[]> {
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const all = await candidates();
  const unknown = (options.only ?? []).filter((name) => !all.includes(name));
  if (unknown.length) {
    throw new Error(`no functions/${unknown[0]}.ts to build (Lambdas: ${all.join(', ') || 'none'})`);
  }
  const names = options.only ? all.filter((name) => options.only!.includes(name)) : all;
  if (!names.length) return [];

  // One esbuild run for all entry points: without code splitting each output is still a
  // self-contained bundle, and the shared modules are parsed once.
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: names.map((name) => ({ in: path.join(FUNCTIONS, `${name}.ts`), out: `${name}/index` })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    write: false,
    bundle: true,
    platform: 'node',
    // Lambda's nodejs22.x. Only syntax is lowered for the target; the tests load the same
    // bundles on Node 20, which supports everything esbuild emits for node22.
    target: 'node22',
    format: 'esm',
    banner: { js: REQUIRE_BANNER },
    // The AWS SDK and Smithy packages publish an ES module build under "module" next to the
    // CommonJS "main"; only the former can be tree-shaken (esbuild's default for the node
    // platform is main first). Packages with an "exports" map are resolved through it with
    // the "import"/"require" conditions as usual.
    mainFields: ['module', 'main'],
    minify: true,
    treeShaking: true,
    // Licence texts of bundled packages go to index.mjs.LEGAL.txt beside the bundle (the
    // copy of those packages that is deployed keeps its notices) instead of inside it.
    legalComments: 'linked',
    sourcemap: options.sourcemap ? 'linked' : false,
    metafile: true,
    logLevel: 'silent',
    plugins: [literalSchemaKeys, standInsPlugin(), axiosModuleBuild, lazyFormDataGlobal, packageVersionOnly],
  });

  const built: BuiltLambda[] = [];
  const files = new Map(result.outputFiles.map((f) => [path.relative(outDir, f.path), f]));
  for (const name of names) {
    const relative = path.join(name, BUNDLE_FILE);
    const output = result.metafile.outputs[path.relative(ROOT, path.join(outDir, relative))];
    if (!output || !files.has(relative)) throw new Error(`esbuild wrote no ${relative}`);
    // A functions/ file without a handler is a helper (like runtime.ts), not a Lambda.
    if (!output.exports.includes('handler')) continue;
    const dir = path.join(outDir, name);
    // Start from an empty directory: a stale map or licence file would be zipped with it.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const [file, out] of files) {
      if (path.dirname(file) === name) await writeFile(out.path, out.contents);
    }
    built.push({
      name,
      dir,
      file: path.join(dir, BUNDLE_FILE),
      bytes: output.bytes,
      contributors: contributors(output.inputs),
    });
  }
  await writeFile(path.join(outDir, 'meta.json'), `${JSON.stringify(result.metafile, null, 1)}\n`);
  return built;
}

/** Groups a bundle's inputs by package (or first-party folder): what dominates its size. */
function contributors(inputs: esbuild.Metafile['outputs'][string]['inputs']): BuiltLambda['contributors'] {
  const totals = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
    const source = pkg ?? (input.includes(':') ? input : path.dirname(input));
    totals.set(source, (totals.get(source) ?? 0) + bytesInOutput);
  }
  return [...totals]
    .map(([source, bytes]) => ({ source, bytes }))
    .sort((a, b) => b.bytes - a.bytes || a.source.localeCompare(b.source));
}

export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
