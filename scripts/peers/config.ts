/**
 * Paths, pinned versions and the shape of env.json for the local test peers.
 */
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEBBLE_VERSION = 'v2.10.1';
export const PEBBLE_MODULE = 'github.com/letsencrypt/pebble/v2';
export const MOTO_VERSION = '5.2.5';
export const DYNAMODB_LOCAL_VERSION = '3.0.0';
/** Template linters for test/infra (PyPI), in their own venv: checkov pins its own boto3. */
export const CFN_LINT_VERSION = '1.58.0';
export const CHECKOV_VERSION = '3.3.30';
/**
 * AWS's IAM Roles Anywhere credential helper (aws_signing_helper), the reference client the
 * Roles Anywhere stand-in is proven against. Its main package is the module root.
 */
export const SIGNING_HELPER_MODULE = 'github.com/aws/rolesanywhere-credential-helper';
export const SIGNING_HELPER_VERSION = 'v1.4.0';
export const DYNAMODB_LOCAL_ARTIFACT = `software.amazon.dynamodb:DynamoDBLocal:${DYNAMODB_LOCAL_VERSION}`;

/** The repository root (this file lives in <repo>/scripts/peers/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Install cache shared by every clone on this machine. */
export function cacheHome(): string {
  const fromEnv = process.env.CERTKEEPER_PEERS_HOME;
  return fromEnv && fromEnv.trim() !== '' ? resolve(fromEnv) : join(homedir(), '.cache', 'certkeeper');
}

export interface CachePaths {
  readonly home: string;
  readonly pebble: string;
  /** aws_signing_helper (go install names it rolesanywhere-credential-helper; renamed). */
  readonly signingHelper: string;
  readonly venv: string;
  readonly motoServer: string;
  readonly venvPython: string;
  readonly lintVenv: string;
  readonly cfnLint: string;
  readonly checkov: string;
  readonly dynamodbDir: string;
  readonly dynamodbLauncherDir: string;
}

export function cachePaths(home: string = cacheHome()): CachePaths {
  const dynamodbDir = join(home, 'dynamodb');
  return {
    home,
    pebble: join(home, 'bin', 'pebble'),
    signingHelper: join(home, 'bin', 'aws_signing_helper'),
    venv: join(home, 'venv'),
    motoServer: join(home, 'venv', 'bin', 'moto_server'),
    venvPython: join(home, 'venv', 'bin', 'python'),
    lintVenv: join(home, 'lint-venv'),
    cfnLint: join(home, 'lint-venv', 'bin', 'cfn-lint'),
    checkov: join(home, 'lint-venv', 'bin', 'checkov'),
    dynamodbDir,
    dynamodbLauncherDir: join(dynamodbDir, 'launcher'),
  };
}

/**
 * The state directory of the default peer instance (`start`/`stop`/`env`): <repo>/.peers,
 * or CERTKEEPER_PEERS_DIR. `run` uses its own instance under <state>/runs/<pid>.
 */
export function defaultStateDir(): string {
  const fromEnv = process.env.CERTKEEPER_PEERS_DIR;
  return fromEnv && fromEnv.trim() !== '' ? resolve(fromEnv) : join(repoRoot, '.peers');
}

export const PEER_NAMES = ['moto', 'dynamodb', 'dns', 'pebble'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** The content of env.json. `env` holds exactly the variables `run` exports. */
export interface PeersEnvFile {
  readonly version: 1;
  readonly dir: string;
  readonly startedAt: string;
  readonly pebble: {
    readonly directoryUrl: string;
    readonly managementUrl: string;
    readonly caCert: string;
    readonly httpPort: number;
    readonly tlsPort: number;
  };
  readonly moto: { readonly endpoint: string };
  readonly dynamodb: { readonly endpoint: string };
  readonly dns: { readonly host: string; readonly port: number };
  /** Path of AWS's aws_signing_helper (AWS_SIGNING_HELPER); absent in env.json files of older starts. */
  readonly signingHelper?: { readonly path: string };
  readonly pids: Readonly<Record<PeerName, number>>;
  readonly logs: Readonly<Record<PeerName, string>>;
  readonly env: Readonly<Record<string, string>>;
}
