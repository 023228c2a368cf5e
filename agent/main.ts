/**
 * The agent's entry point for the certkeeper command: what `certkeeper agent`, `agent
 * status` and `agent join` run. The command line (cli/commands/agent*.ts) parses flags and
 * prints; everything the agent does is behind these few functions.
 */
import { type SyncReport, createAgent } from './agent.js';
import { agentS3Client } from './aws.js';
import { loadAgentConfig } from './config.js';
import { startAgentHttp01 } from './http01.js';
import { consoleLog } from './log.js';
import { agentStatus, type AgentStatus, writePrometheusTextfile } from './status.js';
import { startAgentTlsAlpn01 } from './tlsalpn01.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import { registryClients } from './aws.js';
import { systemClock } from '../shared/model/clock.js';

export { type JoinOptions, type JoinResult, joinRegistry, startService } from './join.js';
export type { AgentStatus, SyncReport };

export interface RunOptions {
  config: string;
  http01Listen?: string;
  tlsAlpn01Listen?: string;
  fallbackSelfSigned?: boolean;
  /** Certificates this run may install although older than the installed one. */
  allowOlder?: string[];
}

/** Checks every certificate once; the report. */
export async function checkOnce(options: RunOptions): Promise<SyncReport> {
  const config = loadAgentConfig(options.config, overrides(options));
  return createAgent(config, { log: consoleLog(), allowOlder: options.allowOlder }).syncOnce();
}

/** Runs until SIGTERM or SIGINT: the loop, and the challenge responders when configured. */
export async function runUntilStopped(options: RunOptions): Promise<void> {
  const config = loadAgentConfig(options.config, overrides(options));
  const log = consoleLog();
  // The responders read the challenge objects with the agent's own credentials.
  const s3 = config.identity ? registryClients(config, systemClock).s3 : agentS3Client(config);
  const agent = createAgent(
    config,
    config.identity ? { log, allowOlder: options.allowOlder } : { s3, log, allowOlder: options.allowOlder },
  );
  // Started before the first check: a certificate being issued may need them right away.
  const objects = new S3ObjectStore(s3, { bucket: config.bucket });
  const responder = config.http01Listen ? await startAgentHttp01(config, objects, log) : undefined;
  const tlsResponder = config.tlsAlpn01Listen
    ? await startAgentTlsAlpn01(config, objects, log).catch(async (err: unknown) => {
        await responder?.close();
        throw err;
      })
    : undefined;
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    log.info(`${signal} received: finishing the current check, then stopping`);
    controller.abort();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  log.info('agent started', {
    config: config.source,
    mode: config.identity ? `registry agent ${config.name}` : 'direct (reads the bucket)',
    certificates: Object.keys(config.certificates),
    pollIntervalSeconds: config.pollIntervalSeconds,
    ...(config.identity ? { eventPollSeconds: config.eventPollSeconds } : {}),
  });
  try {
    await agent.run({ signal: controller.signal });
  } finally {
    await responder?.close();
    await tlsResponder?.close();
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/** What the agent installed (its state file), and where certificates need attention. */
export async function statusOf(configFile: string, now: Date, prometheus?: string): Promise<AgentStatus> {
  const config = loadAgentConfig(configFile);
  const state = await agentStatus(
    config.stateFile,
    now,
    Object.keys(config.certificates).length ? Object.keys(config.certificates) : undefined,
  );
  if (prometheus) await writePrometheusTextfile(prometheus, state);
  return state;
}

const overrides = (options: RunOptions) => ({
  http01Listen: options.http01Listen,
  tlsAlpn01Listen: options.tlsAlpn01Listen,
  fallbackSelfSigned: options.fallbackSelfSigned ? true : undefined,
});
