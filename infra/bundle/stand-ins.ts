/**
 * The stand-in modules of the bundles (their code: modules/), as an esbuild plugin. The
 * Lambda build (infra/bundle.ts) takes them all; the CLI build (scripts/cli-bundle.ts) a
 * subset.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';

export interface StandIn {
  /** The import specifier it replaces... */
  module: RegExp;
  /** ...when imported by this file (one importer, so nothing else is replaced by accident). */
  importer: RegExp;
  name: string;
  /** The module that stands in, a file under modules/ (linted like the rest). */
  file: string;
}

const moduleFile = (file: string): string => fileURLToPath(new URL(`./modules/${file}`, import.meta.url));

/**
 * Small modules (modules/*) that stand in for dependencies certkeeper ships but never runs. Each is a
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
 *   form is built: reading the global loads Node's bundled undici (see lazy-formdata-global.ts).
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
    file: moduleFile('acme-client-forge.cjs'),
  },
  {
    module: /^@aws-sdk\/credential-provider-node$/,
    importer: /[\\/]node_modules[\\/]@aws-sdk[\\/]/,
    name: 'credential-provider-node',
    file: moduleFile('credential-provider-node.mjs'),
  },
  {
    module: /^form-data$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]/,
    name: 'form-data',
    file: moduleFile('form-data.cjs'),
  },
  {
    module: /^\.\/xhr\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-xhr-adapter',
    file: moduleFile('axios-xhr-adapter.mjs'),
  },
  {
    module: /^\.\/fetch\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-fetch-adapter',
    file: moduleFile('axios-fetch-adapter.mjs'),
  },
  {
    module: /^\.\/http\.js$/,
    importer: /[\\/]node_modules[\\/]axios[\\/]lib[\\/]adapters[\\/]adapters\.js$/,
    name: 'axios-http-adapter',
    file: moduleFile('axios-http-adapter.mjs'),
  },
];

/** The stand-ins as an esbuild plugin. */
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
    // A stand-in's own imports resolve from where the module it replaces was imported, not
    // from modules/ (the packages it imports are the importer's dependencies).
    build.onLoad({ filter: /.*/, namespace: 'stand-in' }, async (args) => ({
      contents: await readFile(standIns.find((s) => s.name === args.path)!.file, 'utf8'),
      loader: 'js',
      resolveDir: (args.pluginData as { resolveDir: string }).resolveDir,
    }));
  },
});
