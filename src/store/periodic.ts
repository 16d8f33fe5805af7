/**
 * Background housekeeping of the server (junk pruning, retention, watching
 * other writers): a task run on an interval whose timer keeps no process
 * alive, and whose failure is the next round's to retry, never the caller's.
 */

/** Options of {@link runPeriodically}. */
export interface PeriodicOptions {
  /** Run once at once too. @default true */
  now?: boolean;
  /** Hears a round's error; the next round runs as planned. @default ignore it */
  onError?: (err: unknown) => void;
}

/** Runs `task` every `everyMs` (and at once); returns the function that stops it. */
export function runPeriodically(
  task: () => void,
  everyMs: number,
  options: PeriodicOptions = {},
): () => void {
  const round = () => {
    try {
      task();
    } catch (err) {
      options.onError?.(err);
    }
  };
  const timer = setInterval(round, everyMs);
  Deno.unrefTimer(timer);
  if (options.now ?? true) round();
  return () => clearInterval(timer);
}
