/**
 * The client end of an in-process connection (one side of `duplexPair()`)
 * for the session unit tests: buffers what the server sends, waits for it
 * with a deadline, and can start TLS, end or drop the connection. The SMTP
 * and POP3 session tests add their protocol's way of reading replies.
 */
import assert from "node:assert/strict";
import type { Duplex } from "node:stream";
import tls from "node:tls";

/** How long one step may wait for the server. */
export const STEP_TIMEOUT_MS = 5_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `text` for an error message, cut at 300 characters. */
export function show(text: string): string {
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}...` : text);
}

export class ScriptedClient {
  #socket: Duplex;
  /** Server output not read yet; subclasses take replies from its front. */
  protected buf: Uint8Array = new Uint8Array();
  #eof = false;
  #wake: (() => void) | undefined;
  #onData = (chunk: Uint8Array) => {
    const next = new Uint8Array(this.buf.length + chunk.length);
    next.set(this.buf);
    next.set(chunk, this.buf.length);
    this.buf = next;
    this.#notify();
  };
  #onEnd = () => {
    this.#eof = true;
    this.#socket.end();
    this.#notify();
  };

  constructor(socket: Duplex) {
    this.#socket = socket;
    this.#attach();
  }

  #attach(): void {
    this.#socket.on("data", this.#onData);
    this.#socket.on("end", this.#onEnd);
    this.#socket.on("error", this.#onEnd);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits for input or EOF; false on timeout. */
  #wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, Math.max(ms, 0));
      this.#wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** The server has closed its side. */
  get closed(): boolean {
    return this.#eof;
  }

  /** Unread server output. */
  get pending(): string {
    return decoder.decode(this.buf);
  }

  /** Sends at once, in one write. */
  send(data: string | Uint8Array): void {
    this.#socket.write(typeof data === "string" ? encoder.encode(data) : data);
  }

  /** Waits until `take` gives something from the buffer; fails on close or after `ms`. */
  protected async until<T>(
    take: () => T | undefined,
    what: string,
    ms = STEP_TIMEOUT_MS,
  ): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = take();
      if (r !== undefined) return r;
      if (this.#eof) {
        throw new Error(
          `Connection closed while waiting for ${what}; unread: ${show(this.pending)}`,
        );
      }
      if (!await this.#wait(deadline - Date.now())) {
        throw new Error(`No ${what} within ${ms} ms; unread: ${show(this.pending)}`);
      }
    }
  }

  /** Waits for the server to close, with nothing unread. */
  async expectClosed(ms = STEP_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#eof) {
      if (!await this.#wait(deadline - Date.now())) {
        throw new Error(`Connection still open after ${ms} ms; unread: ${show(this.pending)}`);
      }
    }
    assert.equal(this.pending, "", "unread output before the close");
  }

  /** Asserts that nothing arrives for `ms` milliseconds. */
  async expectQuiet(ms: number): Promise<void> {
    if (this.buf.length === 0 && !this.#eof) await this.#wait(ms);
    assert.equal(this.pending, "", "unexpected output");
    assert.equal(this.#eof, false, "unexpected close");
  }

  /** Starts TLS as the client over the current stream. */
  async startTls(): Promise<void> {
    assert.equal(this.pending, "", "output left before the TLS handshake");
    const raw = this.#socket;
    raw.off("data", this.#onData);
    raw.off("end", this.#onEnd);
    raw.off("error", this.#onEnd);
    const secure = tls.connect({ socket: raw as never, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("TLS handshake timed out")), STEP_TIMEOUT_MS);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        resolve();
      });
      secure.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    this.#socket = secure;
    this.#attach();
  }

  /**
   * Goes away without a goodbye: ends our side at once and keeps reading, so
   * the server sees the end of input as it would a dropped TCP connection.
   * (Destroying one end of a `duplexPair()` does not reach the other end.)
   */
  drop(): void {
    this.#socket.end();
  }

  /** Ends our side and waits (bounded) for the server's end; its last words stay readable. */
  async end(): Promise<void> {
    this.#socket.end();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (!this.#eof) {
      if (!await this.#wait(deadline - Date.now())) {
        this.#socket.destroy();
        throw new Error("The server did not close after the client did");
      }
    }
  }
}
