/**
 * The dashboard page's files (one HTML page, its script and its stylesheet), served by the
 * command from memory. In the built CLI (dist/cli/certkeeper.cjs, and the single executable
 * made from it) scripts/cli-bundle.ts replaces this module with the files built at build
 * time (page-build.ts `pageAssetsPlugin`), so nothing is read from disk or the network at
 * run time; run from the sources (tsx), the page is built from cli/dashboard/page/ here.
 */
export interface PageAssets {
  'index.html': string;
  'app.js': string;
  'app.css': string;
}

export async function pageAssets(): Promise<PageAssets> {
  const { buildPageAssets } = await import('./page-build.js');
  return buildPageAssets();
}
