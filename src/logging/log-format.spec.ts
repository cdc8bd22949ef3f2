import { PrettyLogsUnavailable, prettyInstalled, resolveLogFormat } from './log-format.js';

describe('resolveLogFormat', () => {
  it('auto: pretty only on a terminal with pino-pretty installed, JSON otherwise', () => {
    expect(resolveLogFormat('auto', true, true)).toBe('pretty');
    expect(resolveLogFormat('auto', true, false)).toBe('json');
    expect(resolveLogFormat('auto', false, true)).toBe('json');
    expect(resolveLogFormat('auto', false, false)).toBe('json');
  });

  it('json is json; pretty is pretty where pino-pretty is installed and an error naming the way out where not', () => {
    expect(resolveLogFormat('json', true, false)).toBe('json');
    expect(resolveLogFormat('pretty', false, true)).toBe('pretty');
    expect(() => resolveLogFormat('pretty', true, false)).toThrow(PrettyLogsUnavailable);
    expect(() => resolveLogFormat('pretty', true, false)).toThrow(/LOG_FORMAT=pretty needs the pino-pretty package.*LOG_FORMAT=json/s);
  });

  it('finds pino-pretty in this checkout (a devDependency)', () => {
    expect(prettyInstalled()).toBe(true);
  });
});
