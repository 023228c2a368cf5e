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
 * are composition helpers the Lambdas import, not Lambdas themselves.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

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

/**
 * Small modules that stand in for dependencies certkeeper ships but never runs. Each is a
 * whole-module replacement, scoped to one importer, so it is listed with why it is safe:
 *
 * - acme-client's index does `exports.forge = require('./crypto/forge')`, which loads
 *   node-forge (~290 KB minified) even though certkeeper never touches `acme.forge` (keys,
 *   CSRs and certificate parsing go through `acme.crypto`, node:crypto and @peculiar/x509).
 *   CommonJS cannot be tree-shaken, so the module is replaced by an object that says so if
 *   anything ever reads from it.
 * - every AWS SDK client takes its default credentials from `@aws-sdk/credential-provider-node`,
 *   the full chain: environment, SSO, ini/profile files, credential_process, web identity,
 *   container and EC2 instance metadata, which brings STS, SSO and SSO-OIDC clients along
 *   (`@aws-sdk/nested-clients`, ~100 KB). A Lambda receives its role's credentials in
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, which the chain's first
 *   link reads; the stand-in keeps that link and the container endpoint
 *   (AWS_CONTAINER_CREDENTIALS_FULL_URI, how some Lambda environments hand out credentials),
 *   memoized the way the full chain is, and says clearly when neither is there. Profiles
 *   (AWS_PROFILE, ~/.aws), SSO and EC2 metadata are not read by the bundles; tests and local
 *   runs set the environment variables.
 * - axios requires `form-data` (and with it mime-types, mime-db, combined-stream: ~150 KB)
 *   only to build multipart bodies; ACME sends JSON (JWS) bodies only. axios already falls
 *   back to the global FormData when the package is missing, so the stand-in is Node's own
 *   FormData (spec-compliant, which axios's HTTP adapter streams itself), looked up when a
 *   form is built: reading the global loads Node's bundled undici (see lazyFormDataGlobal).
 * - axios's adapters: acme-client's instance runs on shared/acme/http-adapter.ts (transport.ts
 *   sets it before any client is made, account.ts), so axios's own Node adapter (http2, zlib,
 *   follow-redirects, proxy-from-env) is never used; a request that reached it would fail
 *   saying the adapter is not in the build. On Node the XHR module's export is already
 *   `false` (no XMLHttpRequest), which the stand-in states directly; the fetch adapter
 *   (~15 KB) is reported unavailable instead of built.
 */
export const STAND_INS: StandIn[] = [
  {
    module: /^\.\/crypto\/forge$/,
    importer: /[\\/]node_modules[\\/]acme-client[\\/]src[\\/]index\.js$/,
    name: 'acme-client-forge',
    contents: `
const message = 'acme.forge (node-forge) is not bundled into certkeeper Lambdas: use acme.crypto';
module.exports = new Proxy({}, {
  get(_, key) {
    if (typeof key === 'symbol' || key === 'then' || key === '__esModule') return undefined;
    throw new Error(message + ' (read acme.forge.' + key + ')');
  },
});
`,
  },
  {
    module: /^@aws-sdk\/credential-provider-node$/,
    importer: /[\\/]node_modules[\\/]@aws-sdk[\\/]/,
    name: 'credential-provider-node',
    contents: `
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { chain, CredentialsProviderError, memoize } from '@smithy/core/config';
const CONTAINER = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'];
export const credentialsTreatedAsExpired = (c) => c?.expiration !== undefined && c.expiration.getTime() - Date.now() < 300000;
export const credentialsWillNeedRefresh = (c) => c?.expiration !== undefined;
export const defaultProvider = (init = {}) => memoize(chain(
  fromEnv(init),
  async () => {
    if (!CONTAINER.some((name) => process.env[name])) {
      throw new CredentialsProviderError('no container credentials endpoint', { logger: init.logger, tryNextLink: true });
    }
    return fromHttp(init)();
  },
  async () => {
    throw new CredentialsProviderError(
      'No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (as Lambda does) or ' + CONTAINER.join(' / ') +
        '. This bundle does not read profiles, SSO or instance metadata (see infra/bundle.ts).',
      { logger: init.logger, tryNextLink: false },
    );
  },
), credentialsTreatedAsExpired, credentialsWillNeedRefresh);
`,
  },
  {
    module: /^form-data$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]/,
    name: 'form-data',
    contents: `
module.exports = class FormData {
  constructor(...args) { return new globalThis.FormData(...args); }
  static [Symbol.hasInstance](value) { return value instanceof globalThis.FormData; }
};
`,
  },
  {
    module: /^\.\/xhr\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-xhr-adapter',
    contents: 'export default false;',
  },
  {
    module: /^\.\/fetch\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-fetch-adapter',
    contents: 'export const getFetch = () => false;\nexport default false;',
  },
  {
    module: /^\.\/http\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-http-adapter',
    contents: 'export default false;',
  },
];

export interface StandIn {
  module: RegExp;
  importer: RegExp;
  name: string;
  contents: string;
}

/** The stand-ins as an esbuild plugin; the CLI build (scripts/build-cli.ts) uses a subset. */
export const standInsPlugin = (standIns: readonly StandIn[] = STAND_INS): esbuild.Plugin => ({
  name: 'stand-ins',
  setup(build) {
    for (const standIn of standIns) {
      build.onResolve({ filter: standIn.module }, (args) =>
        standIn.importer.test(args.importer)
          ? { path: standIn.name, namespace: 'stand-in', pluginData: { resolveDir: args.resolveDir } }
          : undefined,
      );
    }
    // A stand-in's own imports resolve from where the module it replaces was imported.
    build.onLoad({ filter: /.*/, namespace: 'stand-in' }, (args) => ({
      contents: standIns.find((s) => s.name === args.path)!.contents,
      loader: 'js',
      resolveDir: (args.pluginData as { resolveDir: string }).resolveDir,
    }));
  },
});
const standIns = standInsPlugin();

/**
 * acme-client `require`s axios, which picks axios's prebuilt CommonJS file (dist/node,
 * ~85 KB, every adapter and helper in one piece that nothing can be dropped from). Its ES
 * module build is the same version of the same source, split into modules, so the unused
 * browser adapters above can be left out of it. acme-client reads the require()d value as
 * the axios instance (`axios.create`, `axios.AxiosError`): that is the ES build's default
 * export, so the CommonJS side gets `.default`.
 */
const AXIOS_ESM = Symbol('axios-esm');

export const axiosModuleBuild: esbuild.Plugin = {
  name: 'axios-module-build',
  setup(build) {
    build.onResolve({ filter: /^axios$/ }, async (args) => {
      if (args.kind !== 'require-call' || args.pluginData === AXIOS_ESM) return undefined;
      if (!/[\\/]node_modules[\\/]acme-client[\\/]/.test(args.importer)) return undefined;
      const esm = await build.resolve('axios', {
        kind: 'import-statement',
        resolveDir: args.resolveDir,
        pluginData: AXIOS_ESM,
      });
      if (esm.errors.length) return { errors: esm.errors };
      return { path: 'axios', namespace: 'axios-commonjs', pluginData: esm.path };
    });
    build.onLoad({ filter: /.*/, namespace: 'axios-commonjs' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.pluginData)}).default;`,
      loader: 'js',
      resolveDir: path.dirname(args.pluginData as string),
    }));
  },
};

/**
 * Node defines `FormData` (with fetch, Headers, Request...) as a global that loads its bundled
 * undici when first read: ~20 ms of CPU at every start. axios reads it when its utils module
 * loads, to recognise FormData bodies; certkeeper sends none. The rewrite looks it up inside
 * `isFormData` instead, after the checks that already turn away everything without an
 * `append` method (a FormData has one), so the answer is the same for every value. The build
 * fails if axios's text changes, rather than silently keep the eager read.
 */
const AXIOS_UTILS = /[\\/]node_modules[\\/]axios[\\/]lib[\\/]utils\.js$/;
const AXIOS_FORMDATA_EAGER = [
  "const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;\n",
  '  if (FormDataCtor && thing instanceof FormDataCtor) return true;\n',
  '  if (!isFunction(thing.append)) return false;\n',
] as const;

export const lazyFormDataGlobal: esbuild.Plugin = {
  name: 'lazy-formdata-global',
  setup(build) {
    build.onLoad({ filter: AXIOS_UTILS }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const [declaration, check, append] = AXIOS_FORMDATA_EAGER;
      if (!AXIOS_FORMDATA_EAGER.every((line) => source.split(line).length === 2)) {
        throw new Error(`${args.path}: axios changed how it detects FormData; update lazyFormDataGlobal`);
      }
      return {
        contents: source
          .replace(declaration, '')
          .replace(check, '')
          .replace(
            append,
            `${append}  if (typeof G.FormData !== 'undefined' && thing instanceof G.FormData) return true;\n`,
          ),
        loader: 'js',
      };
    });
  },
};

/**
 * The AWS SDK clients and acme-client import their own package.json for `version` (and
 * acme-client `name`, for the User-Agent). A default-imported JSON module is bundled whole
 * (~2.5 KB a client: scripts, dependencies, repository); only those two fields are kept.
 */
const PACKAGE_VERSION_READERS =
  /[\\/]node_modules[\\/](@aws-sdk[\\/]client-[^\\/]+|acme-client)[\\/]package\.json$/;

export const packageVersionOnly: esbuild.Plugin = {
  name: 'package-version-only',
  setup(build) {
    build.onLoad({ filter: PACKAGE_VERSION_READERS }, async (args) => {
      const { name, version } = JSON.parse(await readFile(args.path, 'utf8')) as Record<string, unknown>;
      return { contents: JSON.stringify({ name, version }), loader: 'json' };
    });
  },
};

/**
 * The AWS SDK describes each service in generated tables (`dist-es/schemas/schemas_0.js`):
 * one array per shape, error and operation, with traits written as `{ [_hH]: _xA }` where
 * `_hH` is a file-level `const _hH = "httpHeader"`. esbuild treats a computed key it has not
 * evaluated as a possible side effect (ToPropertyKey may call user code), so it keeps every
 * table entry with a trait, used or not: ~55 of S3's ~100 KB, half of Route53's. Writing
 * those keys as the string literals their constants hold is the same object, and lets the
 * unused entries go (~85 KB off the issuer). Only keys naming a `const` string of the same
 * file are rewritten; a file that declares functions or parameters (where a name could be
 * shadowed) is left as it is.
 */
const SDK_SCHEMAS =
  /[\\/]node_modules[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;
const STRING_CONST = /^const (_\w+) = ("[^"\\\n]*");$/gm;
const MAY_SHADOW = /\bfunction\b|(\w|\(\s*[^)\s][^)]*\))\s*=>/;

export const literalSchemaKeys: esbuild.Plugin = {
  name: 'literal-schema-keys',
  setup(build) {
    build.onLoad({ filter: SDK_SCHEMAS }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (MAY_SHADOW.test(source)) return undefined;
      const strings = new Map([...source.matchAll(STRING_CONST)].map((m) => [m[1]!, m[2]!]));
      return {
        contents: source.replace(/\[(_\w+)\]:/g, (key, name: string) => {
          const literal = strings.get(name);
          return literal === undefined ? key : `${literal}:`;
        }),
        loader: 'js',
      };
    });
  },
};

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
    plugins: [literalSchemaKeys, standIns, axiosModuleBuild, lazyFormDataGlobal, packageVersionOnly],
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
