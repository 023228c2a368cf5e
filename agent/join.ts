import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { newDeliveryKey } from '../shared/agents/envelope.js';
import { parseEnrolmentToken } from '../shared/agents/token.js';
import { agentCsr } from '../shared/identity/agent-csr.js';
import { ValidationError } from '../shared/model/errors.js';
import { DEFAULT_IDENTITY_DIR, type AgentConfigInput, parseAgentConfig } from './config.js';
import { readIfExists, writeFileAtomic } from './files.js';
import { newIdentityKey, postIdentityRequest, saveIdentity } from './identity.js';

/**
 * `certkeeper agent join <token>`: what a server does to become a registry agent. A key and
 * a delivery key are made here and never leave; only a CSR and the delivery key's public half
 * travel, with the one-time token, to the identity endpoint the token names. What comes back
 * (the client certificate, the CA, the stack's settings) is written beside the config, and
 * the config is written or, on a server that ran the agent before, amended: its install
 * targets, reload commands and checks are kept; what only direct mode needed goes.
 */
export interface JoinOptions {
  token: string;
  /** The agent config file to write (default /etc/certkeeper/agent.json). */
  config: string;
  /** Where the identity is kept (default /var/lib/certkeeper/identity). */
  identityDir?: string;
  /** An extra CA for the endpoints' TLS (tests, private endpoints). */
  endpointCaFile?: string;
}

export interface JoinResult {
  agent: string;
  config: string;
  identityDir: string;
  notAfter: string;
  /** The config existed and was amended (its targets kept). */
  amended: boolean;
}

export async function joinRegistry(options: JoinOptions): Promise<JoinResult> {
  const token = parseEnrolmentToken(options.token);
  if (Date.parse(token.expiresAt) <= Date.now()) {
    throw new ValidationError(
      'token',
      `expired at ${token.expiresAt}`,
      `ask the operator for a new one: certkeeper agent token ${token.agent}`,
    );
  }
  const identityDir = options.identityDir ?? DEFAULT_IDENTITY_DIR;
  const existing = await readExisting(options.config);
  if (existing?.name !== undefined && existing.name !== token.agent) {
    throw new ValidationError(
      'token',
      `is for agent ${token.agent}, but ${options.config} belongs to agent ${existing.name}`,
      `use agent ${existing.name}'s token here, or pass --config for a new file`,
    );
  }
  const endpointCaPem = options.endpointCaFile ? await readFile(options.endpointCaFile, 'utf8') : undefined;
  const key = newIdentityKey();
  const delivery = newDeliveryKey();
  const answer = await postIdentityRequest(
    token.url,
    {
      action: 'join',
      agent: token.agent,
      token: token.secret,
      csr: agentCsr(token.agent, key),
      deliveryKey: delivery.publicKeyDer,
    },
    endpointCaPem,
  );
  if (!new X509Certificate(answer.certificate).checkPrivateKey(key)) {
    throw new ValidationError(
      'token',
      'the identity endpoint answered with a certificate for another key',
      'try again with a new token',
    );
  }
  await saveIdentity(identityDir, {
    key,
    certificatePem: answer.certificate,
    caPem: answer.caCertificate,
    deliveryKey: delivery.privateKey,
  });
  const s = answer.settings;
  const { queueUrl: _obsolete, ...kept } = existing ?? {};
  const config: AgentConfigInput = {
    ...kept,
    name: token.agent,
    bucket: s.bucket,
    region: s.region,
    identity: {
      directory: identityDir,
      enrolUrl: token.url,
      region: s.region,
      fleetTable: s.fleetTable,
      trustAnchorArn: s.trustAnchorArn,
      profileArn: s.profileArn,
      roleArn: s.roleArn,
      ...(s.rolesAnywhereEndpoint ? { rolesAnywhereEndpoint: s.rolesAnywhereEndpoint } : {}),
      ...(options.endpointCaFile ? { endpointCaFile: options.endpointCaFile } : {}),
    },
  };
  // Refused here, before it is written, if the merge made something the agent would refuse.
  parseAgentConfig(config, options.config);
  await writeFileAtomic({
    path: options.config,
    content: `${JSON.stringify(config, null, 2)}\n`,
    mode: 0o640,
  });
  return {
    agent: token.agent,
    config: options.config,
    identityDir,
    notAfter: answer.notAfter,
    amended: existing !== undefined,
  };
}

async function readExisting(file: string): Promise<AgentConfigInput | undefined> {
  const text = await readIfExists(file);
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as AgentConfigInput;
  } catch {
    // refused below
  }
  throw new ValidationError(
    file,
    'is not a JSON object',
    `fix or remove ${file}, then join again (the token is not spent yet)`,
  );
}

const run = promisify(execFile);

/**
 * Starts (and enables) the agent's systemd unit, where there is systemd; says what to run
 * where there is not. Never fails the join: the identity is already in place.
 */
export async function startService(
  unit = 'certkeeper-agent',
): Promise<{ started: boolean; message: string }> {
  try {
    await run('systemctl', ['enable', '--now', unit], { timeout: 30_000 });
    await run('systemctl', ['restart', unit], { timeout: 30_000 });
    return { started: true, message: `started ${unit} (systemctl enable --now ${unit})` };
  } catch (err) {
    return {
      started: false,
      message: `could not start ${unit} (${(err as Error).message.split('\n')[0]}); start the agent yourself: certkeeper agent --config /etc/certkeeper/agent.json`,
    };
  }
}
