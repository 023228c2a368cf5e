/**
 * acme-client `require`s axios, which picks axios's prebuilt CommonJS file (dist/node,
 * ~85 KB, every adapter and helper in one piece that nothing can be dropped from). Its ES
 * module build is the same version of the same source, split into modules, so the unused
 * browser adapters (stand-ins.ts) can be left out of it. acme-client reads the require()d
 * value as the axios instance (`axios.create`, `axios.AxiosError`): that is the ES build's
 * default export, so the CommonJS side gets `.default`.
 *
 * An esbuild plugin of the Lambda build (infra/bundle.ts) and the CLI build
 * (scripts/cli-bundle.ts).
 */
import path from 'node:path';
import type * as esbuild from 'esbuild';

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
