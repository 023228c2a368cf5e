/**
 * An agent on a temp directory with a filesystem store standing in for the bucket: what
 * the unit tests of checks, installs, rollbacks and the fallback share.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, type AgentDeps, createAgent } from '../../agent/agent.js';
import { type AgentConfig, type AgentConfigInput, parseAgentConfig } from '../../agent/config.js';
import { type AgentState, readState } from '../../agent/state.js';
import type { Log } from '../../shared/model/log.js';
import { FsCertificateStore } from '../../shared/store/fs-store.js';
import type { CertificateStore } from '../../shared/store/store.js';
import type { IssuedBundle } from './test-ca.js';

export interface AgentHost {
  dir: string;
  storeRoot: string;
  store: FsCertificateStore;
  config: AgentConfig;
  agent: Agent;
  logs: string[];
  paths: { fullchain: string; key: string; cert: string; chain: string };
  /** What each reload saw in CERTKEEPER_SERIAL, in order. */
  reloads(): string[];
  /** The bytes at every installed path (undefined when absent). */
  snapshot(): Record<string, string | undefined>;
  state(): Promise<AgentState>;
  publish(issued: IssuedBundle, name?: string): Promise<void>;
  /** Another agent on the same files and state, with other settings or dependencies. */
  withConfig(input: Partial<AgentConfigInput>, deps?: AgentDeps): Agent;
}

export const recordingLog = (logs: string[]): Log => ({
  debug: () => undefined,
  info: (m, e) => logs.push(`INFO ${m} ${JSON.stringify(e ?? {})}`),
  warn: (m, e) => logs.push(`WARN ${m} ${JSON.stringify(e ?? {})}`),
  error: (m, e) => logs.push(`ERROR ${m} ${JSON.stringify(e ?? {})}`),
});

export function agentHost(
  rootPem: string,
  input: Partial<AgentConfigInput> = {},
  deps: AgentDeps & { store?: CertificateStore } = {},
): AgentHost {
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-agent-'));
  const storeRoot = join(dir, 'bucket');
  const store = new FsCertificateStore({ root: storeRoot });
  writeFileSync(join(dir, 'root.pem'), rootPem);
  const reloadLog = join(dir, 'reloads.log');
  const paths = {
    fullchain: join(dir, 'etc', 'fullchain.pem'),
    key: join(dir, 'etc', 'private', 'privkey.pem'),
    cert: join(dir, 'etc', 'cert.pem'),
    chain: join(dir, 'etc', 'chain.pem'),
  };
  const logs: string[] = [];
  const build = (
    extra: Partial<AgentConfigInput>,
    extraDeps: AgentDeps,
  ): { config: AgentConfig; agent: Agent } => {
    const config = parseAgentConfig(
      {
        bucket: 'unit-test-bucket',
        stateFile: 'state/agent.json',
        trustedCaFile: 'root.pem',
        certificates: { web: { ...paths } },
        reload: { commands: [`echo "$CERTKEEPER_SERIAL" >> '${reloadLog}'`], timeoutSeconds: 5 },
        ...input,
        ...extra,
      },
      'unit test config',
      dir,
    );
    return { config, agent: createAgent(config, { store, log: recordingLog(logs), ...deps, ...extraDeps }) };
  };
  const { config, agent } = build({}, {});
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    dir,
    storeRoot,
    store,
    config,
    agent,
    logs,
    paths,
    reloads: () => (read(reloadLog) ?? '').split('\n').filter(Boolean),
    snapshot: () => Object.fromEntries(Object.values(paths).map((p) => [p, read(p)])),
    state: () => readState(config.stateFile),
    publish: async (issued, name = 'web') => {
      await store.putBundle(name, issued.serial, issued.bundle, issued.meta);
    },
    withConfig: (extra, extraDeps = {}) => build(extra, extraDeps).agent,
  };
}
