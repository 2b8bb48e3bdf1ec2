/**
 * The logging surface lib code needs. Powertools' Logger satisfies it in functions; tests pass a capture.
 * Structured extras are plain objects; nothing secret may be put in them (see redact.ts).
 */
export interface Log {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
