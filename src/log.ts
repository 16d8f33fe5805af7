/**
 * Logging with LogTape: human-readable text by default (coloured on a
 * terminal), JSON lines with `--log-format json`, one level for everything
 * under the `postino` category and optional levels per sub-category
 * (`[log.categories] smtp = "debug"`).
 *
 * Records are written synchronously to stderr, so nothing is lost when the
 * process exits.
 */
import {
  configure,
  getAnsiColorFormatter,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogRecord,
  reset,
  type TextFormatter,
} from "@logtape/logtape";
import type { LogLevel } from "./config.ts";

/** Logging settings (a subset of Config). */
export interface LogSettings {
  level: LogLevel;
  format: "text" | "json";
  categories?: Record<string, LogLevel>;
}

const encoder = new TextEncoder();

function writeAll(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
}

/** Sets up logging for the process; call once at start. */
export async function setupLogging(settings: LogSettings): Promise<void> {
  // Strings go into text lines as they are; the defaults would quote them.
  const text = {
    timestamp: "date-time-tz" as const,
    value: (v: unknown) => typeof v === "string" ? v : Deno.inspect(v),
  };
  const formatter: TextFormatter = settings.format === "json"
    ? jsonLinesFormatter
    : Deno.stderr.isTerminal()
    ? getAnsiColorFormatter(text)
    : getTextFormatter(text);
  const sink = (record: LogRecord) => writeAll(encoder.encode(formatter(record)));
  await configure({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["postino"], lowestLevel: settings.level, sinks: ["stderr"] },
      // A sub-category with its own level gets its own sink, or the parent's level would filter it.
      ...Object.entries(settings.categories ?? {}).map(([name, level]) => ({
        category: ["postino", ...name.split(".")],
        lowestLevel: level,
        sinks: ["stderr"],
        parentSinks: "override" as const,
      })),
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Stops logging (tests and shutdown). */
export async function teardownLogging(): Promise<void> {
  await reset();
}

/** The logger of a sub-category: `log("smtp")` logs as `postino.smtp`. */
export function log(...category: string[]): Logger {
  return getLogger(["postino", ...category]);
}
