/**
 * Connection caps shared by all listeners of a server: a total, and one per
 * client IP address. Loopback clients are exempt from the per-IP cap by
 * default, as Postfix exempts its own networks.
 */

/** Connection cap settings. */
export interface LimitOptions {
  /** @default 500 */
  maxConnections?: number;
  /** @default 20 */
  maxPerIp?: number;
  /** @default true */
  exemptLoopback?: boolean;
}

/** Counts open connections and refuses those over the caps. */
export class ConnectionLimits {
  readonly maxConnections: number;
  readonly maxPerIp: number;
  readonly #exemptLoopback: boolean;
  #total = 0;
  #perIp = new Map<string, number>();

  constructor(options: LimitOptions = {}) {
    this.maxConnections = options.maxConnections ?? 500;
    this.maxPerIp = options.maxPerIp ?? 20;
    this.#exemptLoopback = options.exemptLoopback ?? true;
  }

  /** Open connections now. */
  get total(): number {
    return this.#total;
  }

  /**
   * Takes a slot for a connection from `ip`: a release function, or the
   * reason for refusing it.
   */
  acquire(ip: string): { release: () => void } | { refused: "total" | "per-ip" } {
    if (this.#total >= this.maxConnections) return { refused: "total" };
    const count = this.#perIp.get(ip) ?? 0;
    if (count >= this.maxPerIp && !(this.#exemptLoopback && isLoopback(ip))) {
      return { refused: "per-ip" };
    }
    this.#total++;
    this.#perIp.set(ip, count + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = (this.#perIp.get(ip) ?? 1) - 1;
        if (left > 0) this.#perIp.set(ip, left);
        else this.#perIp.delete(ip);
      },
    };
  }
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}
