import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOCUMENTED_ROUTE, haproxyTlsAlpn, nginxTlsAlpnStream } from '../../../agent/proxy-snippets.js';

const readme = readFileSync(new URL('../../../agent/README.md', import.meta.url), 'utf8');

describe('the TLS-ALPN-01 front configuration in agent/README.md', () => {
  // test/e2e/tls-alpn.test.ts runs these very renderings in nginx and HAProxy.
  it('is the nginx stream block the end-to-end test runs', () => {
    expect(readme).toContain(`\`\`\`nginx\n${nginxTlsAlpnStream(DOCUMENTED_ROUTE)}\`\`\``);
    expect(readme).toContain(`"tlsAlpn01Listen": "${DOCUMENTED_ROUTE.agent}"`);
  });

  it('is the HAProxy frontend the end-to-end test runs', () => {
    expect(readme).toContain(`\`\`\`\n${haproxyTlsAlpn(DOCUMENTED_ROUTE)}\`\`\``);
  });
});
