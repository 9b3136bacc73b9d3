// A plain line logger: the daemon's stderr goes to daemon.log.

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function lineLogger(write: (line: string) => void): Logger {
  const at = (level: string, message: string) => write(`${new Date().toISOString()} ${level} ${message}\n`);
  return {
    info: (m) => at("INFO", m),
    warn: (m) => at("WARN", m),
    error: (m) => at("ERROR", m),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
