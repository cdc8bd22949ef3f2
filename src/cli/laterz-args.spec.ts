import { describe, expect, it } from '@jest/globals';
import { parseLaterzArgs } from './laterz-args.js';

describe('parseLaterzArgs', () => {
  it('reads start with its handlers files: repeated, inline, comma-separated; none is the engine alone', () => {
    expect(parseLaterzArgs(['start'])).toEqual({ kind: 'start', handlers: [] });
    expect(parseLaterzArgs(['start', '--handlers', 'a.js', '--handlers=b/c.js', '--handlers', 'd.js, e.js'])).toEqual({
      kind: 'start',
      handlers: ['a.js', 'b/c.js', 'd.js', 'e.js'],
    });
  });

  it('reads migrate, help and the version', () => {
    expect(parseLaterzArgs(['migrate'])).toEqual({ kind: 'migrate' });
    expect(parseLaterzArgs(['help'])).toEqual({ kind: 'help' });
    expect(parseLaterzArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseLaterzArgs(['start', '-h'])).toEqual({ kind: 'help' });
    expect(parseLaterzArgs(['-v'])).toEqual({ kind: 'version' });
    expect(parseLaterzArgs(['--version'])).toEqual({ kind: 'version' });
  });

  it('calls every other command line a usage error, saying what is wrong', () => {
    const message = (argv: string[]) => {
      const parsed = parseLaterzArgs(argv);
      return parsed.kind === 'usage-error' ? parsed.message : `parsed as ${parsed.kind}`;
    };
    expect(message([])).toBe('no command given');
    expect(message(['serve'])).toBe("unknown command 'serve'");
    expect(message(['--port', '3000'])).toBe("unknown option '--port'");
    expect(message(['start', '--port', '3000'])).toBe("unknown option '--port'");
    expect(message(['start', 'handlers.js'])).toBe("unexpected argument 'handlers.js'");
    expect(message(['start', '--handlers'])).toBe("'--handlers' needs a file: --handlers <file.js>");
    expect(message(['start', '--handlers='])).toBe("'--handlers' needs a file: --handlers <file.js>");
    expect(message(['start', '--handlers', '--other'])).toBe("'--handlers' needs a file, not '--other': --handlers <file.js>");
    expect(message(['migrate', '--handlers', 'a.js'])).toBe("'--handlers' is an option of start, not of migrate");
  });
});
