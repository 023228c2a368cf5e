#!/usr/bin/env node
// `certkeeper` from a checkout: the TypeScript sources through tsx's loader, no build step;
// tsx must be installed next to it (`npm ci`). What ships is built by scripts/build-cli.ts:
// dist/cli/certkeeper.cjs (package.json "bin") and the single executable (Debian package).
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  process.stderr.write('certkeeper: tsx is not installed; run `npm ci` in the certkeeper directory first\n');
  process.exit(2);
}
register();
const { main } = await import('./main.ts');
process.exit(await main(process.argv));
