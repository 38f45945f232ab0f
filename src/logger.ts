import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Structured logs: JSON lines (production, containers, anything that collects logs), or readable
 * lines for a person at a terminal in development. Redaction is a safety net: code never logs tokens,
 * cookies, codes or states on purpose, and these paths are censored should one slip into a logged
 * object (whatever the format: pino redacts before anything is written).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.accessToken',
  '*.refreshToken',
  '*.appToken',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  // OAuth authorization codes. Smartcar's error codes (ASLEEP, VEHICLE_NOT_CAPABLE…) are no secret and
  // are what an operator searches for: they are logged one level deeper, as `upstream.smartcar.code`
  // (the shape of the client's `extensions.smartcar`), out of this path's reach.
  '*.code',
  '*.state',
  '*.authorization',
  '*.cookie',
];

export type { Logger };
export type LogFormat = 'json' | 'pretty';

/** Errors are logged by type and message; their stack traces only at debug and trace. */
function errorSerializer(withStack: boolean) {
  return (e: unknown) => {
    if (!(e instanceof Error)) return e;
    if (withStack) return pino.stdSerializers.err(e);
    const code = (e as { code?: unknown }).code;
    return { type: e.name, message: e.message, ...(typeof code === 'string' && { code }) };
  };
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const NOT_SHOWN = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** One JSON line as a person reads it: `12:00:01 INFO  message key=value …`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof entry.time === 'string' ? new Date(entry.time).toTimeString().slice(0, 8) : '';
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const fields = Object.entries(entry)
    // A value the message already says is not repeated (the simulator's origin, …).
    .filter(([k, v]) => !NOT_SHOWN.has(k) && !(typeof v === 'string' && v !== '' && msg.includes(v)))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [time, level, msg, ...fields].filter((s) => s !== '').join(' ');
}

function prettyStream(out: DestinationStream): DestinationStream {
  return { write: (chunk: string) => void out.write(`${prettyLine(chunk)}\n`) };
}

/**
 * `auto` (the default of LOG_FORMAT): readable lines when a person is looking, i.e. in development
 * on a terminal; JSON everywhere else, so a log collector (or a test reading the output) always gets
 * JSON.
 */
export function resolveLogFormat(setting: LogFormat | 'auto', env: string, isTTY: boolean): LogFormat {
  if (setting !== 'auto') return setting;
  return env === 'development' && isTTY ? 'pretty' : 'json';
}

let stdout: DestinationStream | null = null;

/**
 * Standard output, written asynchronously: a line is handed to the kernel at once when no write is
 * in flight, and lines logged meanwhile go in the next write together, so under load many lines
 * cost one write instead of one each (pino's default writes every line synchronously). What is
 * still buffered is written at exit (pino flushes on `exit`); a hard kill can lose the last lines.
 */
function stdoutDestination(): DestinationStream {
  return (stdout ??= pino.destination({ dest: 1, sync: false }));
}

export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const out = format === 'pretty' ? prettyStream(destination ?? process.stdout) : (destination ?? (level === 'silent' ? undefined : stdoutDestination()));
  return pino(
    {
      level,
      serializers: { err: errorSerializer(level === 'debug' || level === 'trace') },
      base: { service: 'vehicle-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    out,
  );
}
