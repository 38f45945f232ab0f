import { Writable } from 'node:stream';
import { browserOrigin } from '../../../src/app';
import { createLogger, prettyLine, resolveLogFormat, type LogFormat } from '../../../src/logger';

function capture(format: LogFormat = 'json') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger('info', sink, format), lines };
}

test("an OAuth code is redacted; Smartcar's error code is kept", () => {
  const { logger, lines } = capture();
  logger.info({ query: { code: '0b7e8a8e-3a5c-4b8f-9a52-7a1d2c3e4f50', state: 'st-123' } }, 'exchange');
  logger.warn({ upstream: { kind: 'response', status: 409, smartcar: { type: 'VEHICLE_STATE', code: 'ASLEEP' } }, code: 'VEHICLE_STATE' }, 'smartcar call failed');
  const [exchange, failed] = lines.map((l) => JSON.parse(l) as Record<string, any>);
  expect(exchange!.query).toEqual({ code: '[redacted]', state: '[redacted]' });
  expect(failed!.upstream.smartcar).toEqual({ type: 'VEHICLE_STATE', code: 'ASLEEP' });
  expect(failed!.code).toBe('VEHICLE_STATE');
});

test('pretty: one readable line per event, redacted alike', () => {
  const { logger, lines } = capture('pretty');
  logger.info({ url: 'http://127.0.0.1:8000' }, 'Gateway ready. Apollo Sandbox: http://localhost:8000/graphql');
  logger.warn({ body: { refresh_token: 'secret-refresh' } }, 'odd');
  logger.info({ simulator: 'http://127.0.0.1:5030' }, 'using the built-in Smartcar simulator at http://127.0.0.1:5030');
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO  Gateway ready\. Apollo Sandbox: http:\/\/localhost:8000\/graphql url=http:\/\/127\.0\.0\.1:8000$/);
  expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d WARN  odd body=\{"refresh_token":"\[redacted\]"\}$/);
  expect(lines[2]).toMatch(/INFO  using the built-in Smartcar simulator at http:\/\/127\.0\.0\.1:5030$/); // not repeated as simulator=…
  expect(prettyLine('not json')).toBe('not json');
});

test('auto is pretty only in development on a terminal', () => {
  expect(resolveLogFormat('auto', 'development', true)).toBe('pretty');
  expect(resolveLogFormat('auto', 'development', false)).toBe('json');
  expect(resolveLogFormat('auto', 'production', true)).toBe('json');
  expect(resolveLogFormat('json', 'development', true)).toBe('json');
  expect(resolveLogFormat('pretty', 'production', false)).toBe('pretty');
});

test('the URL a browser opens: a wildcard or loopback listen address is localhost', () => {
  expect(browserOrigin('0.0.0.0', 8000)).toBe('http://localhost:8000');
  expect(browserOrigin('::', 8000)).toBe('http://localhost:8000');
  expect(browserOrigin('127.0.0.1', 8001)).toBe('http://localhost:8001');
  expect(browserOrigin('192.0.2.7', 8000)).toBe('http://192.0.2.7:8000');
  expect(browserOrigin('fd00::1', 8000)).toBe('http://[fd00::1]:8000');
});
