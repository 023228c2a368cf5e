/**
 * Builds the certkeeper command (the operator CLI and the agent) as one self-contained file,
 * and from it a single executable that needs neither Node.js nor node_modules:
 *
 *   npx tsx scripts/build-cli.ts [--no-sea] [--arch x64,arm64] [--sourcemap]
 *
 * - `dist/cli/certkeeper.cjs`: scripts/cli-bundle.ts (package.json's `bin`).
 * - `dist/cli/certkeeper-linux-<arch>`: scripts/sea-build.ts, that file in a Node.js single
 *   executable application. Default: the architecture of this machine.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kb } from '../infra/bundle.js';
import { bundleCli, CLI_BUNDLE } from './cli-bundle.js';
import { type Arch, buildSea, hostArch, NODE_VERSION } from './sea-build.js';

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
