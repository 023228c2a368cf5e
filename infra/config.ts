import { existsSync, readFileSync } from 'node:fs';
import * as z from 'zod';
import { type DeploymentConfig, parseDeploymentConfig } from '../shared/config/deployment.js';
import { CertkeeperError, ValidationError } from '../shared/model/errors.js';
import { parseJson } from '../shared/model/json.js';

/** Where the CDK app looks for the deployment config unless told otherwise. */
export const DEFAULT_CONFIG_PATH = 'certkeeper.config.json';
/** Shipped with the repository, so `cdk synth` works on a fresh clone (with a warning). */
export const EXAMPLE_CONFIG_PATH = 'certkeeper.config.example.json';

export interface ConfigLocation {
  /** CDK context `config` (`cdk deploy -c config=prod.json`); wins over the environment. */
  readonly context?: string;
  /** The environment variable CERTKEEPER_CONFIG. */
  readonly env?: string;
}

/**
 * Which file to read. An explicitly named file must exist; only the default
 * `certkeeper.config.json` falls back to the example, because a fresh clone should
 * synthesize while a typo in `-c config=...` must not silently deploy the example.
 */
export function resolveConfigPath(
  location: ConfigLocation = {},
  warn: (message: string) => void = (m) => console.warn(m),
): string {
  const named = location.context || location.env;
  if (named) return named;
  if (existsSync(DEFAULT_CONFIG_PATH)) return DEFAULT_CONFIG_PATH;
  warn(
    `${DEFAULT_CONFIG_PATH} not found: using ${EXAMPLE_CONFIG_PATH}. ` +
      `Copy it to ${DEFAULT_CONFIG_PATH} and edit it before deploying.`,
  );
  return EXAMPLE_CONFIG_PATH;
}

/** Reads and validates one config file; every error is a ValidationError naming the field. */
export function readDeploymentConfig(source: string): DeploymentConfig {
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new ValidationError(
      source,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      `create it (see ${EXAMPLE_CONFIG_PATH}) or point -c config=... or CERTKEEPER_CONFIG at an existing file`,
    );
  }
  // Syntax here; the shape (with its typo suggestions) in parseDeploymentConfig.
  const input = parseJson(text, z.unknown(), {
    as: (problem) =>
      new ValidationError(source, `is not valid JSON (${problem.message})`, 'correct the JSON syntax'),
  });
  return parseDeploymentConfig(input, source);
}

/**
 * The one line an operator sees when the config is wrong:
 * `certkeeper.config.json: config.scheduleMinutes: <problem>. Fix: <fix>`.
 */
export function formatConfigError(err: unknown, source: string): string {
  if (err instanceof ValidationError && err.field === source) return err.describe();
  if (err instanceof CertkeeperError) return `${source}: ${err.describe()}`;
  return `${source}: ${err instanceof Error ? err.message : String(err)}`;
}
