/**
 * Node defines `FormData` (with fetch, Headers, Request...) as a global that loads its bundled
 * undici when first read: ~20 ms of CPU at every start. axios reads it when its utils module
 * loads, to recognise FormData bodies; certkeeper sends none. The rewrite looks it up inside
 * `isFormData` instead, after the checks that already turn away everything without an
 * `append` method (a FormData has one), so the answer is the same for every value. The build
 * fails if axios's text changes, rather than silently keep the eager read.
 *
 * An esbuild plugin of the Lambda build (infra/bundle.ts) and the CLI build
 * (scripts/cli-bundle.ts).
 */
import { readFile } from 'node:fs/promises';
import type * as esbuild from 'esbuild';

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
