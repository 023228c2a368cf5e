import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration tests share one set of local peers (Pebble, moto, DynamoDB Local); each
    // file isolates itself by unique certificate names, buckets and tables.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'repo', include: ['test/**/*.test.ts'], exclude: ['test/packaging/**'] },
      },
      {
        // The product as an operator installs it: the Debian package built from this
        // checkout, installed with dpkg (test/support/installed-package.ts), and the agent's
        // end-to-end tests (the agent, and registry agents joining) run again against
        // /usr/bin/certkeeper. After the repo's tests (it
        // installs and purges a system package), one file at a time.
        extends: true,
        test: {
          name: 'installed',
          include: ['test/packaging/**/*.test.ts', 'test/e2e/agent.test.ts', 'test/e2e/registry.test.ts'],
          env: { CERTKEEPER_AGENT_BIN: '/usr/bin/certkeeper' },
          globalSetup: ['test/support/installed-package.ts'],
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
