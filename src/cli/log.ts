// pino JSON on stdout: systemd's journal keeps it, `pino-pretty` reads it.
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { name: 'dockgate', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
