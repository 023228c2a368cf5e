import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { IntegrityError, ValidationError } from '../../../shared/model/errors.js';
import { jsonPath, parseJson, validateJson } from '../../../shared/model/json.js';

const schema = z.object({
  name: z.string().min(1),
  mode: z.enum(['a', 'b']).optional(),
  items: z.array(z.object({ port: z.number().int() })).default([]),
});
const input = { what: 'message', fix: 'send {"name": "<name>"}' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseJson', () => {
  it('returns the schema output: defaults applied, unknown keys dropped', () => {
    expect(parseJson('{"name":"web","future":1}', schema, input)).toEqual({ name: 'web', items: [] });
  });

  it('names the source for text that is not JSON, with the parser message and the fix', () => {
    const err = thrown(() => parseJson('{"name":', schema, input));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('message');
    expect(err.message).toMatch(/^message: is not JSON \(.+\)$/);
    expect((err as ValidationError).fix).toBe(input.fix);
  });

  it('names the field that does not fit, arrays by index, with the fix the schema knows best', () => {
    const bad = thrown(() => parseJson('{"name":"web","items":[{"port":1},{"port":"x"}]}', schema, input));
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).field).toBe('message.items[1].port');
    expect((bad as ValidationError).fix).toBe(input.fix);

    const mode = thrown(() => parseJson('{"name":"web","mode":"c"}', schema, input)) as ValidationError;
    expect(mode.field).toBe('message.mode');
    expect(mode.fix).toBe('use one of: a, b');

    const whole = thrown(() => parseJson('[1]', schema, input)) as ValidationError;
    expect(whole.field).toBe('message');
  });

  it('reports stored data as an IntegrityError naming where it is, the field and the fix', () => {
    const stored = { what: 'DynamoDB item cert#web (state)', fix: 'restore it', as: 'stored' as const };
    const schemaErr = thrown(() => parseJson('{"name":""}', schema, stored));
    expect(schemaErr).toBeInstanceOf(IntegrityError);
    expect(schemaErr.message).toMatch(/^DynamoDB item cert#web \(state\) is corrupted: name: /);
    expect((schemaErr as IntegrityError).fix).toBe('restore it');

    const syntax = thrown(() => parseJson('nope', schema, stored));
    expect(syntax).toBeInstanceOf(IntegrityError);
    expect(syntax.message).toMatch(/^DynamoDB item cert#web \(state\) is corrupted: not JSON \(.+\)$/);
  });

  it('never quotes a secret text in its error', () => {
    // Key material where the JSON should start.
    const text = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC';
    const plain = thrown(() => parseJson(text, schema, { ...input, as: 'stored' }));
    // The parser quotes the text around the error, which is why `secret` exists.
    expect(plain.message).toContain('MIIEvQ');
    const secret = thrown(() => parseJson(text, schema, { ...input, as: 'stored', secret: true }));
    expect(secret.message).toBe('message is corrupted: not JSON');
    expect(secret.message).not.toContain('MIIE');
  });

  it("builds the site's own error from the problem when asked to", () => {
    const problems: unknown[] = [];
    const as = (p: unknown) => {
      problems.push(p);
      return new Error('own');
    };
    expect(thrown(() => parseJson('x', schema, { as })).message).toBe('own');
    expect(thrown(() => parseJson('{"items":[]}', schema, { as })).message).toBe('own');
    expect(problems[0]).toMatchObject({ kind: 'syntax', path: '' });
    expect(problems[1]).toMatchObject({ kind: 'schema', path: 'name' });
  });
});

describe('validateJson', () => {
  it('validates a value already parsed, with the same errors', () => {
    expect(validateJson({ name: 'x' }, schema, input)).toEqual({ name: 'x', items: [] });
    expect((thrown(() => validateJson({ name: 1 }, schema, input)) as ValidationError).field).toBe(
      'message.name',
    );
  });
});

describe('jsonPath', () => {
  it('writes keys dotted and indexes bracketed, under an optional root', () => {
    expect(jsonPath(['certificates', 'web', 'identifiers', 0])).toBe('certificates.web.identifiers[0]');
    expect(jsonPath([0, 'port'])).toBe('[0].port');
    expect(jsonPath(['a'], 'config')).toBe('config.a');
    expect(jsonPath([])).toBe('');
  });
});
