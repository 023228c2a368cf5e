/**
 * Chromium for the dashboard's browser test and bench (scripts/test-kit/browser.ts): Debian's
 * own package, driven headless by playwright-core, which is never let to download a browser.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM_PACKAGES = ['chromium'];

/** The browser: CERTKEEPER_CHROMIUM, else where Debian's package puts it. */
export const chromiumPath = (): string => process.env.CERTKEEPER_CHROMIUM || '/usr/bin/chromium';

export const chromiumInstalled = (): boolean => existsSync(chromiumPath());
