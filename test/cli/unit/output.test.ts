/**
 * cli/output.ts: every human line escapes what a terminal would act on (issue 22, item 9);
 * its own colours stay, and --json stays exact.
 */
import { describe, expect, it } from 'vitest';
import { createOutput, terminalSafe } from '../../../cli/output.js';

const HOSTILE = 'a\u001b]0;title\u0007b\u001b[2Jc\rd\u009be\u202ef\u0000g\u007fh';
const ESCAPED = 'a\\u001b]0;title\\u0007b\\u001b[2Jc\\u000dd\\u009be\\u202ef\\u0000g\\u007fh';

function capture(json = false) {
  let stdout = '';
  let stderr = '';
  const out = createOutput({
    json,
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: true },
  });
  return { out, stdout: () => stdout, stderr: () => stderr };
}

describe('human output is escaped for the terminal', () => {
  it('line, table cells, paint and progress escape control characters; a line keeps its line breaks, a cell does not', () => {
    const c = capture();
    c.out.line(`x ${HOSTILE}\nsecond line`);
    c.out.table([{ name: 'web', 'last error': `${HOSTILE}\nforged row` }]);
    c.out.line(c.out.paint(HOSTILE, 'fail'));
    c.out.progress(HOSTILE);
    expect(c.stdout()).toBe(
      [
        `x ${ESCAPED}`,
        'second line',
        `NAME  LAST ERROR`,
        `web   ${ESCAPED}\\u000aforged row`,
        ESCAPED,
        '',
      ].join('\n'),
    );
    expect(c.stderr()).toBe(`… ${ESCAPED}\n`);
  });

  it('keeps its own colours on a terminal, and a painted text cannot close or open one', () => {
    const saved = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      const tty = createOutput({ stdout: { write: () => undefined, isTTY: true } });
      expect(tty.paint('ok', 'ok')).toBe('\u001b[32mok\u001b[0m');
      expect(tty.paint('a\u001b[0mb\u001b[1;5mc', 'fail')).toBe('\u001b[31mabc\u001b[0m');
      expect(terminalSafe(tty.paint('x', 'warn'))).toBe('\u001b[33mx\u001b[0m');
    } finally {
      if (saved !== undefined) process.env.NO_COLOR = saved;
    }
  });

  it('--json stays exact JSON', () => {
    const c = capture(true);
    c.out.result({ lastError: HOSTILE }, () => undefined);
    expect(JSON.parse(c.stdout())).toEqual({ lastError: HOSTILE });
  });
});
