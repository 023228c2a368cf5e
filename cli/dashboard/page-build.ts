/**
 * Builds the dashboard page from cli/dashboard/page/ with esbuild: the TypeScript bundled
 * into one script for browsers (no framework, nothing fetched at run time), the HTML as it
 * is, and page/styles/ joined into one stylesheet. Used at build time (the CLI bundle carries the result) and by
 * the sources under tsx; never shipped itself (esbuild is a development dependency).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { PageAssets } from './assets.js';

const PAGE = (file: string): string => fileURLToPath(new URL(`./page/${file}`, import.meta.url));
const ASSETS_MODULE = /[\\/]cli[\\/]dashboard[\\/]assets\.ts$/;
const STYLES = ['base.css', 'tables.css', 'detail.css', 'phone.css'];

export async function buildPageAssets(): Promise<PageAssets> {
  const result = await esbuild.build({
    entryPoints: [PAGE('main.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    // Browsers of the last few years, on a laptop or a phone.
    target: ['chrome109', 'edge109', 'firefox115', 'safari16'],
    minify: true,
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const script = result.outputFiles[0];
  if (!script) throw new Error('esbuild produced no script for the dashboard page');
  return {
    'index.html': readFileSync(PAGE('index.html'), 'utf8'),
    'app.js': script.text,
    // One stylesheet for the page, from a file per part (base first, the phone's last).
    'app.css': STYLES.map((file) => readFileSync(PAGE(`styles/${file}`), 'utf8')).join('\n'),
  };
}

/**
 * For the CLI bundle (scripts/cli-bundle.ts): cli/dashboard/assets.ts becomes a module that
 * returns the page built now, so the built file and the executable carry it whole.
 */
export function pageAssetsPlugin(): esbuild.Plugin {
  return {
    name: 'dashboard-page-assets',
    setup(build) {
      build.onLoad({ filter: ASSETS_MODULE }, async () => {
        const assets = await buildPageAssets();
        return {
          contents: `export async function pageAssets() { return ${JSON.stringify(assets)}; }`,
          loader: 'js',
        };
      });
    },
  };
}
