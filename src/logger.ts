import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Structured JSON logs. Redaction is a safety net: code never logs tokens, cookies, codes or states
 * on purpose, and these paths are censored should one slip into a logged object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.code',
  '*.state',
  '*.authorization',
  '*.cookie',
];

export type { Logger };

/** Errors are logged by type and message; their stack traces only at debug and trace. */
function errorSerializer(withStack: boolean) {
  return (e: unknown) => {
    if (!(e instanceof Error)) return e;
    if (withStack) return pino.stdSerializers.err(e);
    const code = (e as { code?: unknown }).code;
    return { type: e.name, message: e.message, ...(typeof code === 'string' && { code }) };
  };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { err: errorSerializer(level === 'debug' || level === 'trace') },
      base: { service: 'vehicle-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
