import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG_PATH,
  EXAMPLE_CONFIG_PATH,
  formatConfigError,
  readDeploymentConfig,
  resolveConfigPath,
} from '../../infra/config.js';
import { ValidationError } from '../../shared/model/errors.js';
import { exampleConfigInput } from '../support/synth.js';

const ROOT = process.cwd();
const scratch = mkdtempSync(path.join(tmpdir(), 'certkeeper-app-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeConfig(name: string, value: unknown): string {
  const file = path.join(scratch, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

/** The CDK app as `cdk synth` runs it (tsx, the repository as working directory). */
function runApp(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('deployment config for the CDK app', () => {
  it('reads the file named by context, then CERTKEEPER_CONFIG, then certkeeper.config.json', () => {
    expect(resolveConfigPath({ context: 'a.json', env: 'b.json' })).toBe('a.json');
    expect(resolveConfigPath({ env: 'b.json' })).toBe('b.json');
  });

  it('falls back to the example, with a warning, only when certkeeper.config.json is absent', () => {
    const here = process.cwd();
    const dir = mkdtempSync(path.join(scratch, 'cwd-'));
    const warnings: string[] = [];
    try {
      process.chdir(dir);
      expect(resolveConfigPath({}, (m) => warnings.push(m))).toBe(EXAMPLE_CONFIG_PATH);
      expect(warnings).toEqual([expect.stringContaining(`${DEFAULT_CONFIG_PATH} not found`)]);
      writeFileSync(DEFAULT_CONFIG_PATH, '{}');
      expect(resolveConfigPath({}, (m) => warnings.push(m))).toBe(DEFAULT_CONFIG_PATH);
      expect(warnings).toHaveLength(1);
    } finally {
      process.chdir(here);
    }
  });

  it('keeps the shipped example valid', () => {
    const config = readDeploymentConfig(path.join(ROOT, EXAMPLE_CONFIG_PATH));
    expect(config.certificates.map((c) => c.name)).toEqual(['web-1', 'site']);
  });

  it('names the field and the fix when the config is wrong', () => {
    const file = writeConfig('bad-schedule.json', { ...exampleConfigInput(), scheduleMinutes: 0 });
    let error: unknown;
    try {
      readDeploymentConfig(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(formatConfigError(error, 'certkeeper.config.json')).toMatch(
      /^certkeeper\.config\.json: config\.scheduleMinutes: .+\. Fix: .+/,
    );
  });

  it('says which file is missing or not JSON', () => {
    const missing = path.join(scratch, 'missing.json');
    expect(() => readDeploymentConfig(missing)).toThrow(/missing\.json: cannot be read \(ENOENT\)/);
    const broken = writeConfig('broken.json', '{ "stackName": ');
    try {
      readDeploymentConfig(broken);
      expect.unreachable();
    } catch (err) {
      expect(formatConfigError(err, broken)).toMatch(
        /broken\.json: is not valid JSON .*\. Fix: correct the JSON syntax/,
      );
    }
  });

  it('exits non-zero with "<file>: <field>: <problem>. Fix: <fix>" before bundling anything', () => {
    const file = writeConfig('bad-agent.json', {
      ...exampleConfigInput(),
      agents: [{ name: 'web-1', certificates: ['nope'] }],
    });
    const { status, stderr } = runApp({ CERTKEEPER_CONFIG: file });
    expect(status).toBe(1);
    expect(stderr.trim()).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: config\\.agents\\[0\\]\\.certificates\\[0\\]: "nope" is not a declared certificate.*\\. Fix: declare it`,
      ),
    );
  });
});

describe('the CDK app with the real bundles', () => {
  it('synthesizes the example: seven bundled Lambdas, no cdk-nag finding', () => {
    const outdir = mkdtempSync(path.join(scratch, 'cdk.out-'));
    const { status, stderr } = runApp({ CERTKEEPER_CONFIG: EXAMPLE_CONFIG_PATH, CDK_OUTDIR: outdir });
    expect(stderr).not.toMatch(/Error/);
    expect(status).toBe(0);
    // cdk-nag ran in the app: its report lists no open finding, the assembly no annotation.
    expect(readFileSync(path.join(outdir, 'AwsSolutions--Certkeeper-NagReport.csv'), 'utf8')).not.toMatch(
      /Non-Compliant/,
    );
    const metadata = readFileSync(path.join(outdir, 'Certkeeper.metadata.json'), 'utf8');
    expect(metadata).not.toMatch(/aws:cdk:(error|warning)/);
    const read = (file: string) => JSON.parse(readFileSync(path.join(outdir, file), 'utf8')) as never;
    const template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> } =
      read('Certkeeper.template.json');
    const assets: { files: Record<string, { source: { path: string } }> } = read('Certkeeper.assets.json');
    const functions = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'nodejs22.x',
    );
    expect(functions).toHaveLength(7);
    for (const fn of functions) {
      // Each function's code is an asset directory staged from infra/bundle.ts's output.
      const hash = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
      expect(readdirSync(path.join(outdir, assets.files[hash]!.source.path))).toContain('index.mjs');
    }
  });
});
