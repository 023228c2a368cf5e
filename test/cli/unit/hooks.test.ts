import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OrderHooks } from '../../../cli/local/hooks.js';

describe('renew --out hooks (OrderHooks): each distinct hook once per run', () => {
  let dir: string;
  let log: string;
  const echo = (word: string, exit = 0) => `echo ${word} >> '${log}'${exit ? `; exit ${exit}` : ''}`;
  const logged = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'certkeeper-hooks-'));
    log = join(dir, 'log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a pre-hook shared by two certificates once, before the first order, and its post-hook once at the end', async () => {
    const hooks = new OrderHooks();
    const a = hooks.beforeOrder(echo('pre'), echo('post'));
    const b = hooks.beforeOrder(echo('pre'), echo('post'));
    await a();
    await b();
    expect(logged()).toBe('pre\n');
    expect(await hooks.after()).toBe(0);
    expect(logged()).toBe('pre\npost\n');
    expect({ pre: hooks.pre, post: hooks.post }).toEqual({ pre: 0, post: 0 });
  });

  it('runs distinct hooks each once, and no hook for a certificate that never reached its order', async () => {
    const hooks = new OrderHooks();
    await hooks.beforeOrder(echo('pre-a'), echo('post-a'))();
    hooks.beforeOrder(echo('pre-idle'), echo('post-idle')); // not due: its order never comes
    await hooks.beforeOrder(echo('pre-b'), undefined)();
    await hooks.beforeOrder(undefined, echo('post-c'))();
    await hooks.after();
    expect(logged()).toBe('pre-a\npre-b\npost-a\npost-c\n');
  });

  it('a failed pre-hook fails every order that has it without running again; the post-hook still runs', async () => {
    const hooks = new OrderHooks();
    await expect(hooks.beforeOrder(echo('pre', 3), echo('post'))()).rejects.toThrow(
      /the pre-hook failed \(exit 3\): nothing ordered/,
    );
    await expect(hooks.beforeOrder(echo('pre', 3), echo('post'))()).rejects.toThrow(/exit 3/);
    // Another certificate's own pre-hook is not affected.
    await hooks.beforeOrder(echo('other'), undefined)();
    expect(await hooks.after()).toBe(0);
    expect(logged()).toBe('pre\nother\npost\n');
    expect(hooks.pre).toBe(3);
  });

  it('reports nothing when no order was reached, and the first failing post-hook', async () => {
    const idle = new OrderHooks();
    idle.beforeOrder(echo('pre'), echo('post'));
    expect(await idle.after()).toBeUndefined();
    expect({ pre: idle.pre, post: idle.post }).toEqual({ pre: undefined, post: undefined });
    expect(logged()).toBe('');

    const failing = new OrderHooks();
    await failing.beforeOrder(undefined, echo('ok'))();
    await failing.beforeOrder(undefined, echo('bad', 4))();
    expect(await failing.after()).toBe(4);
    expect(logged()).toBe('ok\nbad\n');
  });
});
