/**
 * The AWS SDK clients and acme-client import their own package.json for `version` (and
 * acme-client `name`, for the User-Agent). A default-imported JSON module is bundled whole
 * (~2.5 KB a client: scripts, dependencies, repository); only those two fields are kept.
 *
 * An esbuild plugin of the Lambda build (infra/bundle.ts) and the CLI build
 * (scripts/cli-bundle.ts).
 */
import { readFile } from 'node:fs/promises';
import type * as esbuild from 'esbuild';

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
