/**
 * `npm run build`'s Lambda half: bundles every Lambda with infra/bundle.ts (which says what
 * each bundle holds and why) and reports the sizes.
 *
 *   npx tsx scripts/build.ts [--out DIR] [--only issuer,scheduler] [--sourcemap] [--top N]
 *
 * prints each bundle's size and its largest parts (--top N, default 8), and fails when one
 * is over the budget (BUNDLE_BUDGET_BYTES).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE_BUDGET_BYTES, buildLambdas, kb } from '../infra/bundle.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      only: { type: 'string' },
      sourcemap: { type: 'boolean', default: false },
      top: { type: 'string', default: '8' },
    },
  });
  const started = performance.now();
  const built = await buildLambdas({
    outDir: values.out,
    only: values.only?.split(',').map((s) => s.trim()),
    sourcemap: values.sourcemap,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  for (const lambda of built) {
    const over = lambda.bytes >= BUNDLE_BUDGET_BYTES ? `  OVER the ${kb(BUNDLE_BUDGET_BYTES)} budget` : '';
    console.log(
      `${path.relative(process.cwd(), lambda.file)}  ${lambda.bytes} bytes (${kb(lambda.bytes)})${over}`,
    );
    for (const { source, bytes } of lambda.contributors.slice(0, Number(values.top))) {
      console.log(`  ${kb(bytes).padStart(10)}  ${source}`);
    }
  }
  console.log(`built ${built.length} Lambda(s) in ${seconds} s`);
  if (built.some((l) => l.bytes >= BUNDLE_BUDGET_BYTES)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
