import { describe, expect, it } from '@jest/globals';
import { enqueueStatements } from './enqueue.sql.js';

describe('the enqueue statements of a schema', () => {
  const all = (schema: string) => Object.values(enqueueStatements(schema));

  it('name the schema on every type and sequence they use', () => {
    for (const { text } of all('laterz')) {
      expect(text).not.toMatch(/::task_status|'task_id_seq/);
    }
    expect(all('laterz').map((s) => s.text).join('\n')).toContain(`'"laterz".task_id_seq'::regclass`);
  });

  it('carry the schema in their prepared names, within PostgreSQL’s 63 bytes, distinct per schema', () => {
    const long = (c: string) => `${'s'.repeat(60)}${c}${c}`;
    const names = (schema: string) => all(schema).filter((s) => s.text.includes(`"${schema}".`)).map((s) => s.name!);
    expect(names('laterz')).toContain('laterz_get_or_create_tasks@laterz');
    for (const schema of [long('a'), long('b')]) for (const name of names(schema)) expect(name.length).toBeLessThanOrEqual(63);
    const a = new Set(names(long('a')));
    expect(names(long('b')).filter((n) => a.has(n))).toEqual([]);
    expect(new Set(names('laterz')).size).toBe(names('laterz').length);
  });

  it('refuse a schema that is not a plain identifier', () => {
    expect(() => enqueueStatements('x"; DROP')).toThrow(/DB_SCHEMA/);
  });
});
