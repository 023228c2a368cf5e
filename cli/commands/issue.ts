import type { Command } from 'commander';
import { EXIT_CODES_HELP } from '../output.js';
import type { LocalIssueOptions } from '../local/issue-flags.js';
import { WELL_KNOWN_CA_NAMES, directoryFlag, directoryOptions } from '../directory-url.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const EXAMPLES = `
Local mode (no AWS): DIR holds the store (certificates/<name>/..., same keys as the S3 bucket),
the ACME account key (accounts/..., 0600), the inventory, the locks, and links to the current
files in DIR/live/<name>/{cert,chain,fullchain,privkey}.pem. \`certkeeper renew --out DIR\`
renews what is due, from cron.

Examples:
  certkeeper issue --directory-url https://acme-v02.api.letsencrypt.org/directory --email ops@example.com \\
    --ip 203.0.113.10 --http01-listen 0.0.0.0:80 --out /etc/certkeeper
  certkeeper issue --directory-url letsencrypt --email ops@example.com \\
    --domain example.com --http01-webroot /var/www/html --out /etc/certkeeper
  certkeeper issue --directory-url letsencrypt --email ops@example.com \\
    --ip 203.0.113.10 --tls-alpn01-listen 127.0.0.1:8443 --out /etc/certkeeper   # nginx routes acme-tls/1 on 443 here
  certkeeper issue --directory-url letsencrypt-staging --email ops@example.com \\
    --domain example.com --domain '*.example.com' --dns route53 --out /etc/certkeeper --json`;

/** The local-mode commands: `issue` (renewal of local certificates is `renew --out DIR`). */
export function register(program: Command): void {
  const command = program
    .command('issue')
    .description(
      'Issue one certificate now on this machine, without AWS: HTTP-01 answered by a built-in responder or through your web server, TLS-ALPN-01 by a built-in responder, or DNS-01 through Route53 with your AWS credentials',
    );
  directoryOptions(command, `the CA: its ACME directory URL, or ${WELL_KNOWN_CA_NAMES} (required)`)
    .option('--email <address>', 'contact for the ACME account (its key is created once, in DIR/accounts/)')
    .option(
      '--fallback-directory-url <url>',
      `a CA to fall back to when the first one fails for its own reasons (down, 5xx, refusing the names or profile): a directory URL or ${WELL_KNOWN_CA_NAMES} (repeatable, in order; needs --email; renew --out reuses them)`,
      collect,
    )
    .option('--ip <address>', 'an IP address to certify (repeatable); implies profile shortlived', collect)
    .option('--domain <name>', 'a DNS name or *.wildcard to certify (repeatable)', collect)
    .option(
      '--http01-listen <host:port>',
      'answer HTTP-01 on this address while the order runs (the CA connects to port 80)',
    )
    .option(
      '--http01-listen-retry <seconds>',
      'while the address is in use, keep trying this long (default 0; renew reuses it)',
    )
    .option(
      '--http01-webroot <webroot>',
      'answer HTTP-01 through the web server already running on port 80: the token is written to WEBROOT/.well-known/acme-challenge/ (WEBROOT: its document root) and removed afterwards',
    )
    .option(
      '--tls-alpn01-listen <host:port>',
      'answer TLS-ALPN-01 (ALPN acme-tls/1) on this address while the order runs (the CA connects to port 443; behind nginx or HAProxy, route acme-tls/1 here: see agent/README.md); not for wildcards',
    )
    .option(
      '--dns <provider>',
      'answer DNS-01 through this provider: route53 (AWS credentials from the environment)',
    )
    .requiredOption('--out <dir>', 'the directory that holds the certificates, account, inventory and locks')
    .option('--profile <name>', 'ACME profile (default: shortlived with an IP, else the CA default)')
    .option('--key-type <type>', 'ecdsa-p256 (default), ecdsa-p384, rsa2048, rsa3072 or rsa4096')
    .option('--ca-file <pem>', 'trust this CA for the ACME server HTTPS (a private CA such as Pebble)')
    .option('--name <name>', 'certificate name (default: from the first identifier)')
    .option(
      '--csr <file>',
      'certify this PEM certificate request instead (its names are the identifiers; your key never reaches certkeeper); written to DIR/csr/NAME/, never renewed: rarely wise, see cli/README.md',
    )
    .option('--json', 'print the result as JSON')
    .option(
      '--force',
      'order a new certificate even when the current one is valid and not due (without it, running issue again orders nothing)',
    )
    .option(
      '--pre-hook <command>',
      'run this (sh -c) before answering HTTP-01, e.g. to stop a service that holds port 80; its failure orders nothing. Saved: renew --out runs it before renewing this certificate',
    )
    .option(
      '--post-hook <command>',
      'run this after the order, whether it succeeded or failed (e.g. start that service again). Saved for renew --out too',
    )
    .addHelpText('after', `${EXIT_CODES_HELP}\n${EXAMPLES}`)
    .action(
      async (
        options: Omit<LocalIssueOptions, 'directory'> & { directoryUrl?: string; directory?: string },
      ) => {
        // Loaded on use: every other command starts without the ACME and Route53 modules.
        const { runLocalIssue } = await import('../local/issue.js');
        process.exitCode = await runLocalIssue({ ...options, directory: directoryFlag(options) });
      },
    );
}
