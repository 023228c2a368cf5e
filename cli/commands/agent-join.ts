/**
 * `certkeeper agent join <token>`: the server's one command. Run as root on the server,
 * after installing certkeeper: it makes the server's keys (which never leave it), trades the
 * token for the server's identity, writes /etc/certkeeper/agent.json and starts the agent.
 */
import type { Command } from 'commander';
import { joinRegistry, startService } from '../../agent/main.js';
import { action } from '../context.js';
import { EXIT, createOutput } from '../output.js';

interface JoinFlags {
  config: string;
  identityDir?: string;
  endpointCa?: string;
  start: boolean;
  json?: boolean;
}

export function registerAgentJoin(agent: Command): void {
  agent
    .command('join')
    .argument('<token>', 'the one-time token from certkeeper agent add (or agent token)')
    .description(
      "Join the registry as the agent the token names: make this server's key and delivery key (they never leave it), obtain its identity, write the agent config, start the agent. No AWS key is stored",
    )
    .option(
      '--config <path>',
      'the agent config to write (kept targets and reload commands are kept)',
      '/etc/certkeeper/agent.json',
    )
    .option(
      '--identity-dir <dir>',
      "where the server's keys and certificate go",
      '/var/lib/certkeeper/identity',
    )
    .option(
      '--endpoint-ca <file>',
      'an extra CA for the identity and Roles Anywhere endpoints (private endpoints, tests)',
    )
    .option('--no-start', 'write the identity and config, but do not start the agent service')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Exit codes:
  0  joined (and the agent started, unless --no-start)
  1  joined, but the agent service could not be started (start it yourself; the message says how)
  2  refused: the token is used, expired, for another agent or damaged, or the config is invalid
  3  the identity endpoint could not be reached

Examples:
  sudo certkeeper agent join ckj1.eyJ1cmwiOi...
  sudo certkeeper agent join "$(cat token.txt)" --config /etc/certkeeper/agent.json --no-start`,
    )
    .action(action(runJoin));
}

async function runJoin(token: string, flags: JoinFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  const joined = await joinRegistry({
    token,
    config: flags.config,
    ...(flags.identityDir ? { identityDir: flags.identityDir } : {}),
    ...(flags.endpointCa ? { endpointCaFile: flags.endpointCa } : {}),
  });
  const service = flags.start ? await startService() : undefined;
  out.result({ ...joined, service }, () => {
    out.line(
      `${out.paint('joined', 'ok')} as agent ${joined.agent}; identity valid until ${joined.notAfter} (renewed by the agent itself)`,
    );
    out.line(`  ${joined.amended ? 'amended' : 'wrote'} ${joined.config}; keys in ${joined.identityDir}`);
    if (service)
      out.line(
        `  ${service.started ? out.paint(service.message, 'ok') : out.paint(service.message, 'warn')}`,
      );
    else
      out.line(
        `  start it: systemctl enable --now certkeeper-agent (or certkeeper agent --config ${joined.config})`,
      );
  });
  return service && !service.started ? EXIT.attention : EXIT.ok;
}
