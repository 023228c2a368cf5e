/**
 * The dashboard page ships inside the CLI: the build replaces cli/dashboard/assets.ts with
 * the page built at build time (so dist/cli/certkeeper.cjs and the single executable made
 * from it carry it, and esbuild stays out), and the page refers to nothing outside itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { pageAssets } from '../../../cli/dashboard/assets.js';
import { pageAssetsPlugin } from '../../../cli/dashboard/page-build.js';
import { CERTIFICATE_VIEW_STATES } from '../../../cli/fleet-view/schema.js';
import { TARGET_HEALTH } from '../../../shared/model/event.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

describe('the dashboard page', () => {
  it('is built into the CLI bundle by the build plugin, without esbuild', async () => {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      stdin: {
        contents: "export { pageAssets } from './cli/dashboard/assets.ts';",
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      plugins: [pageAssetsPlugin()],
      logLevel: 'silent',
    });
    const bundle = result.outputFiles[0]!.text;
    expect(bundle).toContain('certkeeper-refresh');
    expect(bundle).not.toMatch(/page-build|require\("esbuild"\)/);
    const loaded = { exports: {} as { pageAssets: typeof pageAssets } };
    new Function('module', 'exports', 'require', bundle)(loaded, loaded.exports, () => {
      throw new Error('the built page needs no module');
    });
    const built = await loaded.exports.pageAssets();
    expect(Object.keys(built).sort()).toEqual(['app.css', 'app.js', 'index.html']);
    expect(built['app.js'].length).toBeGreaterThan(5000);
  });

  it('is one HTML file, its script and its stylesheet: no CDN, no URL to anywhere else', async () => {
    const assets = await pageAssets();
    expect(assets['index.html']).toContain('<script defer src="app.js"></script>');
    expect(assets['index.html']).toContain('<link rel="stylesheet" href="app.css" />');
    for (const [file, text] of Object.entries(assets)) {
      expect(text, file).not.toMatch(/https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
      expect(text, file).not.toMatch(/@import|url\(/);
    }
    // The script reaches the command alone: relative paths.
    expect(assets['app.js']).toMatch(/"api\/snapshot"/);
  });

  it("offers every state and health of the snapshot's schema as a filter", async () => {
    const html = (await pageAssets())['index.html'];
    const options = (id: string) =>
      [
        ...html
          .slice(html.indexOf(`id="${id}"`))
          .split('</select>')[0]!
          .matchAll(/value="([^"]*)"/g),
      ].map((m) => m[1]);
    expect(options('f-state')).toEqual(['', ...CERTIFICATE_VIEW_STATES]);
    expect(options('f-health')).toEqual(['', 'problem', ...TARGET_HEALTH]);
  });

  it('is built from sources that never parse data as HTML', () => {
    const dir = join(ROOT, 'cli', 'dashboard', 'page');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(text, file).not.toMatch(/\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|eval\(/);
    }
  });
});
