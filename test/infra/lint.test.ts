/**
 * cfn-lint and checkov (PyPI, installed by `npm run peers -- install` into the lint venv)
 * on the synthesized templates: no cfn-lint finding at all, and no checkov failure; what
 * checkov would fail and certkeeper accepts is skipped in the resource's Metadata with the
 * reason beside it (infra/lint-suppressions.ts), and every skip must carry a reason.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachePaths } from '../../scripts/peers/config.js';
import { exampleConfigInput, fullConfigInput, synth } from '../support/synth.js';

const run = promisify(execFile);
const paths = cachePaths();

interface CheckovResult {
  check_id: string;
  resource: string;
  file_abs_path: string;
  check_result: { result: string; suppress_comment?: string };
}
interface CheckovReport {
  check_type: string;
  results: {
    passed_checks: CheckovResult[];
    failed_checks: CheckovResult[];
    skipped_checks: CheckovResult[];
  };
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number };
}

let dir: string;
const templates: Record<string, string> = {};

function write(name: string, template: unknown): string {
  const path = join(dir, `${name}.template.json`);
  writeFileSync(path, JSON.stringify(template, null, 1));
  templates[name] = path;
  return path;
}

/** cfn-lint's findings, one per line ("" when clean); exit 0 clean, 2 errors, 4 warnings. */
async function cfnLint(files: string[]): Promise<{ code: number; output: string }> {
  try {
    await run(paths.cfnLint, ['--format', 'parseable', '--', ...files], { timeout: 120_000 });
    return { code: 0, output: '' };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

/** One checkov run over every template in the directory (one start-up, ~10 s). */
async function checkov(directory: string): Promise<CheckovReport> {
  const args = ['--skip-download', '--framework', 'cloudformation', '-o', 'json', '-d', directory];
  // Exit 1 when a check failed; the JSON report is on stdout either way.
  const { stdout } = await run(paths.checkov, args, {
    timeout: 180_000,
    maxBuffer: 256 * 1024 * 1024,
  }).catch((err: { code?: number; stdout?: string }) => {
    if (err.code === 1 && err.stdout) return { stdout: err.stdout };
    throw err;
  });
  const parsed = JSON.parse(stdout) as CheckovReport | CheckovReport[];
  const report = Array.isArray(parsed) ? parsed.find((r) => r.check_type === 'cloudformation') : parsed;
  if (!report?.results) throw new Error(`checkov found no template to check in ${directory}`);
  return report;
}

/** The results of one template, by kind. */
const of = (kind: keyof CheckovReport['results'], name: string): CheckovResult[] =>
  report.results[kind].filter((r) => r.file_abs_path === templates[name]);
const failed = (name: string) => of('failed_checks', name).map((c) => `${c.check_id} ${c.resource}`);

let lint: { code: number; output: string };
let liveLint: { code: number; output: string };
let report: CheckovReport;

beforeAll(async () => {
  for (const tool of [paths.cfnLint, paths.checkov]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: run \`npm run peers -- install\``);
  }
  dir = mkdtempSync(join(tmpdir(), 'certkeeper-lint-'));
  write('example', synth(exampleConfigInput()).template.toJSON());
  write('full', synth(fullConfigInput()).template.toJSON());
  write(
    'minimal',
    synth({ certificates: [{ name: 'web-1', identifiers: ['203.0.113.10'] }] }).template.toJSON(),
  );
  // The checks are live: a bucket with nothing set, and a function on a runtime long gone.
  const live = synth(exampleConfigInput()).template.toJSON() as { Resources: Record<string, unknown> };
  live.Resources.Unsafe = { Type: 'AWS::S3::Bucket' };
  live.Resources.Ancient = {
    Type: 'AWS::Lambda::Function',
    Properties: {
      Code: { ZipFile: 'exports.handler = async () => 1;' },
      Role: 'arn:aws:iam::123456789012:role/x',
      Runtime: 'nodejs8.10',
      Handler: 'index.handler',
    },
  };
  write('live', live);
  const shipped = ['example', 'full', 'minimal'].map((n) => templates[n]!);
  // One linter at a time, each over every template in one process: CI has two cores.
  const all = await cfnLint([...shipped, templates.live!]);
  const lines = all.output.split('\n').filter(Boolean);
  const of = (files: string[]) => lines.filter((l) => files.some((f) => l.startsWith(`${f}:`))).join('\n');
  lint = { code: of(shipped) ? all.code : 0, output: of(shipped) };
  liveLint = { code: all.code, output: of([templates.live!]) };
  report = await checkov(dir);
}, 400_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('cfn-lint', () => {
  it('reports nothing, error or warning, on the example, full and minimal stacks', () => {
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
  });

  it('does report a function on a retired runtime (the check is live)', () => {
    expect(liveLint.code).not.toBe(0);
    expect(liveLint.output).toMatch(/:E253\d:Runtime 'nodejs8\.10' was deprecated/);
  });
});

describe('checkov --skip-download', () => {
  it.each(['example', 'full', 'minimal'])('fails nothing in the %s stack', (name) => {
    expect(failed(name)).toEqual([]);
    expect(of('passed_checks', name).length).toBeGreaterThan(100);
  });

  it('parsed every template', () => {
    expect(report.summary.parsing_errors).toBe(0);
    for (const name of Object.keys(templates))
      expect(of('passed_checks', name).length, name).toBeGreaterThan(0);
  });

  it.each(['example', 'full', 'minimal'])('every skip in the %s stack carries its reason', (name) => {
    const skips = of('skipped_checks', name);
    expect(skips.length).toBeGreaterThan(0);
    for (const skip of skips) {
      expect(skip.check_result.suppress_comment ?? '', `${skip.check_id} ${skip.resource}`).toMatch(
        /^\S.{40,}/,
      );
    }
  });

  it('does fail what is not explained (the check is live)', () => {
    const findings = failed('live');
    expect(findings).toContain('CKV_AWS_18 AWS::S3::Bucket.Unsafe');
    expect(findings.some((f) => f.endsWith('AWS::Lambda::Function.Ancient'))).toBe(true);
  });
});
