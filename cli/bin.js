#!/usr/bin/env node
// The `certkeeper` executable (package.json "bin"). The CLI is TypeScript, run through
// tsx's loader so there is no build step; tsx must be installed next to it (`npm ci`).
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
