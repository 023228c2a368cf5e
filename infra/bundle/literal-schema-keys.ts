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
 *
 * An esbuild plugin of the Lambda build (infra/bundle.ts) and the CLI build
 * (scripts/cli-bundle.ts).
 */
import { readFile } from 'node:fs/promises';
import type * as esbuild from 'esbuild';

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
