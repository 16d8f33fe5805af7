/**
 * How every ACME request travels (RFC 8555 §6): the directory, nonces, JWS
 * POSTs signed ES256 with the account key, and problem documents turned
 * into {@link AcmeError}. {@link AcmeClient} builds the protocol on it.
 *
 * Invariants:
 * - each request is signed with a nonce used once: the Replay-Nonce of the
 *   last answer, else a new one from newNonce (§7.2);
 * - a badNonce answer is retried with the nonce it carries, a bounded
 *   number of times (§6.5);
 * - every request, the directory and newNonce included, has a time limit
 *   that covers reading its body;
 * - the HTTP client made for `caCerts` lives only while a session runs.
 */
import { publicJwk, signJws } from "./keys.ts";

/** What an ACME server said went wrong (RFC 8555 §6.7, RFC 7807), or why it said nothing. */
export class AcmeError extends Error {
  /** The problem type, e.g. `urn:ietf:params:acme:error:unauthorized`; "" without a problem. */
  readonly type: string;
  /** The problem's detail; "" without one. */
  readonly detail: string;
  /** The HTTP status of the answer; 0 when there was none. */
  readonly status: number;

  constructor(message: string, problem: Problem = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "AcmeError";
    this.type = problem.type ?? "";
    this.detail = problem.detail ?? "";
    this.status = problem.status ?? 0;
  }
}

/** A problem document (RFC 7807), with ACME's subproblems (§6.7.1). */
export interface Problem {
  type?: string;
  detail?: string;
  status?: number;
  subproblems?: { type?: string; detail?: string; identifier?: { value?: string } }[];
}

/** The directory's resources we use (§7.1.1). */
export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

/** An answer, read whole within the request's time limit. */
export interface Reply {
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

/** Options of {@link AcmeTransport}. */
export interface AcmeTransportOptions {
  /** The CA's directory, e.g. https://acme-v02.api.letsencrypt.org/directory */
  directoryUrl: string;
  /** ECDSA P-256 (JWS ES256), extractable: the account is this key. */
  accountKey: CryptoKeyPair;
  /** Extra CA certificates (PEM) to trust for the CA's own HTTPS. */
  caCerts?: string[];
  /** For tests. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Each request's time limit, body included. @default 30000 */
  timeoutMs?: number;
  /** How often to retry a request the CA refused with badNonce. @default 10 */
  badNonceRetries?: number;
}

const BAD_NONCE = "urn:ietf:params:acme:error:badNonce";

/** Signed requests to one CA with one account key. */
export class AcmeTransport {
  /** The account URL, the `kid` of every request but newAccount (§6.2). */
  kid?: string;
  readonly #options: AcmeTransportOptions;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  #http?: Deno.HttpClient;
  #sessions = 0;
  #directory?: Directory;
  #nonce?: string;

  constructor(options: AcmeTransportOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Runs `work` with the HTTP client for `caCerts`; a failure becomes an AcmeError "`what`: why". */
  async session<T>(what: string, work: () => Promise<T>): Promise<T> {
    const { caCerts } = this.#options;
    if (this.#sessions++ === 0 && caCerts?.length) {
      this.#http = Deno.createHttpClient({ caCerts });
    }
    try {
      return await work();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const problem = err instanceof AcmeError ? err : {};
      throw new AcmeError(`${what}: ${message}`, problem, { cause: err });
    } finally {
      if (--this.#sessions === 0) {
        this.#http?.close();
        this.#http = undefined;
      }
    }
  }

  /** The directory (§7.1.1), fetched once. */
  async directory(): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const url = this.#options.directoryUrl;
    const reply = await this.#send(url, { headers: { accept: "application/json" } });
    if (reply.status !== 200) throw problemError(`the directory ${url} answered`, problem(reply));
    const dir = json<Directory>(reply);
    if (!dir.newNonce || !dir.newAccount || !dir.newOrder) {
      throw new AcmeError(`the directory ${url} lacks newNonce, newAccount or newOrder`);
    }
    return this.#directory = dir;
  }

  /**
   * A JWS POST (§6.2): ES256 with `jwk` (newAccount) or `kid`; `payload`
   * undefined is a POST-as-GET (§6.3). A non-2xx answer throws its problem.
   */
  async post(
    url: string,
    payload?: unknown,
    options: { jwk?: boolean; accept?: string } = {},
  ): Promise<Reply> {
    const { privateKey, publicKey } = this.#options.accountKey;
    const retries = this.#options.badNonceRetries ?? 10;
    if (!options.jwk && !this.kid) throw new AcmeError("no account yet");
    for (let attempt = 0;; attempt++) {
      const header = {
        alg: "ES256",
        nonce: await this.#takeNonce(),
        url,
        ...(options.jwk ? { jwk: await publicJwk(publicKey) } : { kid: this.kid }),
      };
      const reply = await this.#send(url, {
        method: "POST",
        headers: {
          "content-type": "application/jose+json",
          accept: options.accept ?? "application/json",
        },
        body: JSON.stringify(await signJws(privateKey, header, payload)),
      });
      if (reply.status >= 200 && reply.status < 300) return reply;
      const found = problem(reply);
      if (found.type === BAD_NONCE && attempt < retries) continue;
      throw problemError(found.type ? "" : `${url} answered`, found);
    }
  }

  /** One request within the time limit; keeps the answer's Replay-Nonce (§6.5). */
  async #send(url: string, init: RequestInit): Promise<Reply> {
    const client = this.#http ? { client: this.#http } : {};
    try {
      const r = await this.#fetch(url, {
        ...init,
        ...client,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const reply = { url, status: r.status, headers: r.headers, text: await r.text() };
      const nonce = r.headers.get("replay-nonce");
      if (nonce) this.#nonce = nonce;
      return reply;
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === "TimeoutError";
      const message = timedOut
        ? `${url} did not answer within ${this.#timeoutMs} ms`
        : `cannot reach ${url}: ${networkReason(err)}`;
      throw new AcmeError(message, {}, { cause: err });
    }
  }

  async #takeNonce(): Promise<string> {
    if (!this.#nonce) {
      const url = (await this.directory()).newNonce;
      const reply = await this.#send(url, { method: "HEAD" });
      if (!this.#nonce) throw new AcmeError(`no Replay-Nonce from ${url} (${reply.status})`);
    }
    const nonce = this.#nonce!;
    this.#nonce = undefined;
    return nonce;
  }
}

/**
 * Why fetch failed: Deno says "fetch failed" and puts the reason (refused,
 * DNS, an untrusted certificate) in the cause, after the URL we name anyway.
 */
function networkReason(err: unknown): string {
  const cause = (err as Error)?.cause;
  const text = cause instanceof Error ? cause.message : (err as Error)?.message ?? String(err);
  return text.replace(/^error sending request for url \([^)]*\): /, "");
}

/** The body of a JSON answer. */
export function json<T>(reply: Reply): T {
  try {
    return JSON.parse(reply.text) as T;
  } catch {
    throw new AcmeError(`${reply.url} answered ${reply.status} with no JSON`, {
      status: reply.status,
    });
  }
}

/** The problem document of an answer, or what can be said without one. */
function problem(reply: Reply): Problem {
  let found: Problem = {};
  try {
    found = JSON.parse(reply.text) ?? {};
  } catch {
    // Not a problem document: the status says it all.
  }
  return { ...found, status: found.status ?? reply.status };
}

/** "`context`: type: detail (name: type: detail; ...)" as an AcmeError. */
export function problemError(context: string, found: Problem = {}): AcmeError {
  const sub = (found.subproblems ?? []).map((s) =>
    `${s.identifier?.value ?? "?"}: ${s.type ?? ""}: ${s.detail ?? ""}`
  );
  const text = [found.type, found.detail].filter(Boolean).join(": ") ||
    (found.status ? `HTTP ${found.status}` : "no reason given");
  const message = [context, text].filter(Boolean).join(": ") +
    (sub.length ? ` (${sub.join("; ")})` : "");
  return new AcmeError(message, found);
}
