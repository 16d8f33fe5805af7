/**
 * A small ACME client (RFC 8555) over `fetch` and WebCrypto: an account, an
 * order, http-01 challenges, a CSR and the certificate chain. Our own rather
 * than npm:acme-client, which brings some 50 packages and axios over
 * node:https (deaf to Deno's CA settings, and memory on a small VPS), while
 * the protocol needs only JWS ES256 and a DER CSR.
 *
 * Invariants:
 * - requests go one at a time, each signed with a nonce used once: the
 *   Replay-Nonce of the last answer, else a new one from newNonce (§7.2);
 * - a badNonce answer is retried with the nonce it carries, a bounded
 *   number of times (§6.5);
 * - every request has a time limit covering its body, every poll a deadline;
 * - every http-01 answer published is unpublished again, whatever happens;
 * - the HTTP client made for `caCerts` lives only while a method runs.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { checkCertificateName, createCsr } from "./csr.ts";
import {
  base64url,
  exportPrivateKeyPem,
  generateKeyPair,
  isP256,
  jwkThumbprint,
  publicJwk,
  signJws,
} from "./keys.ts";

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

/** Options of {@link AcmeClient}. */
export interface AcmeClientOptions {
  /** The CA's directory, e.g. https://acme-v02.api.letsencrypt.org/directory */
  directoryUrl: string;
  /** ECDSA P-256 (JWS ES256), extractable: the account is this key. */
  accountKey: CryptoKeyPair;
  /** Extra CA certificates (PEM) to trust for the CA's own HTTPS. */
  caCerts?: string[];
  /** The account's contact, e.g. `["mailto:postmaster@example.com"]`. */
  contact?: string[];
  /** For tests. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Each request's time limit, body included. @default 30000 */
  timeoutMs?: number;
  /** How long to poll an authorization or the order. @default 120000 */
  pollTimeoutMs?: number;
  /** How often to retry a request the CA refused with badNonce. @default 10 */
  badNonceRetries?: number;
}

/** What {@link AcmeClient.issue} needs besides the names. */
export interface IssueOptions {
  /** Serve `keyAuthorization` at http://NAME/.well-known/acme-challenge/TOKEN (§8.3). */
  publish(token: string, keyAuthorization: string): void | Promise<void>;
  /** Stop serving it. Called for every published token, also when the order fails. */
  unpublish(token: string): void | Promise<void>;
  /** The certificate's key. @default a new ECDSA P-256 pair */
  certificateKey?: CryptoKeyPair;
}

/** An issued certificate. */
export interface Issued {
  /** The chain, leaf first (application/pem-certificate-chain, §9.1). */
  certificatePem: string;
  /** The certificate's private key, PKCS#8 PEM. */
  privateKeyPem: string;
  notAfter: Date;
}

/** A problem document (RFC 7807), with ACME's subproblems (§6.7.1). */
interface Problem {
  type?: string;
  detail?: string;
  status?: number;
  subproblems?: { type?: string; detail?: string; identifier?: { value?: string } }[];
}
interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}
interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
}
interface Challenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: Problem;
}
interface Authorization {
  status: string;
  identifier: { type: string; value: string };
  challenges: Challenge[];
}
/** An answer, read whole within the request's time limit. */
interface Reply {
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

const BAD_NONCE = "urn:ietf:params:acme:error:badNonce";
const PEM_CHAIN = "application/pem-certificate-chain";

/** An ACME account at one CA: registers it and orders certificates over http-01. */
export class AcmeClient {
  readonly #options: AcmeClientOptions;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  #http?: Deno.HttpClient;
  #users = 0;
  #directory?: Directory;
  #nonce?: string;
  #kid?: string;

  constructor(options: AcmeClientOptions) {
    if (!isP256(options.accountKey.privateKey)) {
      throw new TypeError("Cannot use the ACME account key: it must be ECDSA P-256");
    }
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Registers the account of our key, agreeing to the CA's terms, or finds
   * it: newAccount for a key that already has an account answers with that
   * account (§7.3.1), so a stored key gives the same account after a restart
   * and nothing new is made. With `onlyReturnExisting` it only looks, and a
   * key without an account fails with `accountDoesNotExist`. Gives the
   * account URL, the `kid` of later requests.
   */
  account(options: { onlyReturnExisting?: boolean } = {}): Promise<string> {
    const what = options.onlyReturnExisting ? "find" : "register";
    return this.#session(
      `Cannot ${what} the ACME account at ${this.#options.directoryUrl}`,
      () => this.#account(options.onlyReturnExisting ?? false),
    );
  }

  /**
   * Orders a certificate for `names` (the first becomes the CN), proves each
   * over http-01, finalizes with a CSR and downloads the chain (§7.4).
   */
  issue(names: string[], options: IssueOptions): Promise<Issued> {
    const unique = [...new Set(names.map((n) => n.toLowerCase().replace(/\.$/, "")))];
    return this.#session(`ACME order for ${unique.join(", ")} failed`, async () => {
      if (unique.length === 0) throw new AcmeError("no names to order");
      unique.forEach(checkCertificateName);
      await this.#account(false);
      const created = await this.#post((await this.#dir()).newOrder, {
        identifiers: unique.map((value) => ({ type: "dns", value })),
      });
      const orderUrl = created.headers.get("location");
      if (!orderUrl) throw new AcmeError("the CA gave no order URL (Location)");
      const thumbprint = await jwkThumbprint(await publicJwk(this.#options.accountKey.publicKey));
      await this.#authorize(json<Order>(created).authorizations, thumbprint, options);
      let order = await this.#poll<Order>(orderUrl, ["pending"], "order to be ready");
      if (order.status !== "ready") throw problemError(`the order is ${order.status}`, order.error);
      const keys = options.certificateKey ?? await generateKeyPair();
      const csr = base64url(await createCsr(unique, keys));
      order = json<Order>(await this.#post(order.finalize, { csr }));
      if (order.status === "processing" || order.status === "ready") {
        order = await this.#poll<Order>(orderUrl, ["processing", "ready"], "certificate");
      }
      if (order.status !== "valid" || !order.certificate) {
        throw problemError(`the order is ${order.status}`, order.error);
      }
      const chain = await this.#post(order.certificate, undefined, { accept: PEM_CHAIN });
      return await issued(chain, keys);
    });
  }

  /** Runs `work` with the HTTP client for `caCerts`; names the failure `what`. */
  async #session<T>(what: string, work: () => Promise<T>): Promise<T> {
    const { caCerts } = this.#options;
    if (this.#users++ === 0 && caCerts?.length) this.#http = Deno.createHttpClient({ caCerts });
    try {
      return await work();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new AcmeError(`${what}: ${message}`, err instanceof AcmeError ? err : {}, {
        cause: err,
      });
    } finally {
      if (--this.#users === 0) {
        this.#http?.close();
        this.#http = undefined;
      }
    }
  }

  async #account(onlyReturnExisting: boolean): Promise<string> {
    if (this.#kid) return this.#kid;
    const { contact } = this.#options;
    const payload = onlyReturnExisting
      ? { onlyReturnExisting: true }
      : { termsOfServiceAgreed: true, ...(contact?.length ? { contact } : {}) };
    const reply = await this.#post((await this.#dir()).newAccount, payload, { jwk: true });
    const kid = reply.headers.get("location");
    if (!kid) throw new AcmeError("the CA gave no account URL (Location)");
    const { status } = json<{ status?: string }>(reply);
    if (status && status !== "valid") throw new AcmeError(`the account ${kid} is ${status}`);
    return this.#kid = kid;
  }

  async #dir(): Promise<Directory> {
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
      const why = timedOut ? `no answer within ${this.#timeoutMs} ms` : (err as Error).message;
      throw new AcmeError(`no answer from ${url}: ${why}`, {}, { cause: err });
    }
  }

  async #takeNonce(): Promise<string> {
    if (!this.#nonce) {
      const url = (await this.#dir()).newNonce;
      const reply = await this.#send(url, { method: "HEAD" });
      if (!this.#nonce) throw new AcmeError(`no Replay-Nonce from ${url} (${reply.status})`);
    }
    const nonce = this.#nonce!;
    this.#nonce = undefined;
    return nonce;
  }

  /**
   * A JWS POST (§6.2): ES256 with `jwk` (newAccount) or `kid`; `payload`
   * undefined is a POST-as-GET (§6.3). A non-2xx answer throws its problem.
   */
  async #post(
    url: string,
    payload?: unknown,
    options: { jwk?: boolean; accept?: string } = {},
  ): Promise<Reply> {
    const { privateKey, publicKey } = this.#options.accountKey;
    const retries = this.#options.badNonceRetries ?? 10;
    if (!options.jwk && !this.#kid) throw new AcmeError("no account yet");
    for (let attempt = 0;; attempt++) {
      const header = {
        alg: "ES256",
        nonce: await this.#takeNonce(),
        url,
        ...(options.jwk ? { jwk: await publicJwk(publicKey) } : { kid: this.#kid }),
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

  /** Polls `url` while its status is one of `waiting`, honouring Retry-After (§7.5.1). */
  async #poll<T extends { status: string }>(
    url: string,
    waiting: string[],
    what: string,
  ): Promise<T> {
    const limit = this.#options.pollTimeoutMs ?? 120_000;
    const deadline = Date.now() + limit;
    for (let delay = 250;; delay = Math.min(delay * 2, 5_000)) {
      const reply = await this.#post(url);
      const body = json<T>(reply);
      if (!waiting.includes(body.status)) return body;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new AcmeError(
          `gave up waiting for the ${what}: still ${body.status} after ${limit} ms`,
        );
      }
      const wait = Math.min(retryAfterMs(reply.headers) ?? delay, left);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Proves every pending authorization over http-01 (§8.3): publishes all
   * the key authorizations, responds to all the challenges so the CA checks
   * them together, polls each, and unpublishes them all.
   */
  async #authorize(urls: string[], thumbprint: string, options: IssueOptions): Promise<void> {
    const published: { url: string; name: string; challenge: Challenge }[] = [];
    let failure: { error: unknown } | undefined;
    try {
      for (const url of urls) {
        const authz = json<Authorization>(await this.#post(url));
        const name = authz.identifier.value;
        if (authz.status === "valid") continue;
        const challenge = authz.challenges.find((c) => c.type === "http-01");
        if (authz.status !== "pending") throw authorizationError(name, authz);
        if (!challenge) throw new AcmeError(`the CA offers no http-01 challenge for ${name}`);
        published.push({ url, name, challenge });
        // §8.1: the key authorization is the token, a dot and the account key's thumbprint.
        await options.publish(challenge.token, `${challenge.token}.${thumbprint}`);
      }
      for (const { challenge } of published) {
        if (challenge.status === "pending") await this.#post(challenge.url, {}); // §7.5.1
      }
      for (const { url, name } of published) {
        const authz = await this.#poll<Authorization>(url, ["pending"], `validation of ${name}`);
        if (authz.status !== "valid") throw authorizationError(name, authz);
      }
    } catch (error) {
      failure = { error };
    }
    const undone = await Promise.allSettled(
      published.map(async ({ challenge }) => await options.unpublish(challenge.token)),
    );
    if (failure) throw failure.error;
    const rejected = undone.find((r) => r.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
  }
}

/** The body of a JSON answer. */
function json<T>(reply: Reply): T {
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
function problemError(context: string, found: Problem = {}): AcmeError {
  const sub = (found.subproblems ?? []).map((s) =>
    `${s.identifier?.value ?? "?"}: ${s.type ?? ""}: ${s.detail ?? ""}`
  );
  const text = [found.type, found.detail].filter(Boolean).join(": ") ||
    (found.status ? `HTTP ${found.status}` : "no reason given");
  const message = [context, text].filter(Boolean).join(": ") +
    (sub.length ? ` (${sub.join("; ")})` : "");
  return new AcmeError(message, found);
}

/** Why an authorization is not valid: its challenge's error, with the name. */
function authorizationError(name: string, authz: Authorization): AcmeError {
  const error = authz.challenges.find((c) => c.type === "http-01" && c.error)?.error ??
    authz.challenges.find((c) => c.error)?.error;
  if (!error?.type) return new AcmeError(`the authorization for ${name} is ${authz.status}`);
  return new AcmeError(
    `${error.type}: http-01 validation of ${name}: ${error.detail ?? ""}`,
    error,
  );
}

/** Retry-After as milliseconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The downloaded chain checked against our key, with the key as PEM. */
async function issued(chain: Reply, keys: CryptoKeyPair): Promise<Issued> {
  if (!chain.text.includes("-----BEGIN CERTIFICATE-----")) {
    const type = chain.headers.get("content-type") ?? "no type";
    throw new AcmeError(`the certificate at ${chain.url} is not a PEM chain (${type})`);
  }
  const certificatePem = chain.text.endsWith("\n") ? chain.text : `${chain.text}\n`;
  const privateKeyPem = await exportPrivateKeyPem(keys.privateKey);
  const leaf = new X509Certificate(certificatePem);
  if (!leaf.checkPrivateKey(createPrivateKey(privateKeyPem))) {
    throw new AcmeError(`the certificate at ${chain.url} is not for our key`);
  }
  return { certificatePem, privateKeyPem, notAfter: new Date(Date.parse(leaf.validTo)) };
}
