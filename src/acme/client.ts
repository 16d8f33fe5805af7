/**
 * A small ACME client (RFC 8555) over `fetch` and WebCrypto: an account, an
 * order, http-01 challenges, a CSR and the certificate chain. Why our own
 * and not npm:acme-client: that brings some 50 packages and axios over
 * node:https, which ignores Deno's CA settings and costs memory on a small
 * VPS, while the protocol needs only JWS (ES256) and a DER CSR.
 *
 * Every request is a JWS POST (§6.2); a `badNonce` answer is retried with
 * the fresh nonce (§6.5); every wait is bounded.
 */
import { X509Certificate } from "node:crypto";
import { createCsr } from "./csr.ts";
import {
  base64url,
  exportPrivateKeyPem,
  generateKeyPair,
  jwkThumbprint,
  publicJwk,
  signRaw,
} from "./keys.ts";

/** A problem the CA answered (RFC 8555 §6.7, RFC 7807), or a protocol failure. */
export class AcmeError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(message: string, type = "", status = 0) {
    super(message);
    this.name = "AcmeError";
    this.type = type;
    this.status = status;
  }
}

/** How to reach the CA. */
export interface AcmeClientOptions {
  directoryUrl: string;
  /** ECDSA P-256 (ES256). */
  accountKey: CryptoKeyPair;
  /** Extra CA certificates (PEM) to trust for the CA's own HTTPS. */
  caCerts?: string[];
  /** e.g. ["mailto:postmaster@example.com"] */
  contact?: string[];
  /** @default fetch */
  fetch?: typeof fetch;
  /** Each request's time limit. @default 30000 */
  timeoutMs?: number;
  /** How long to wait for a challenge or the order. @default 120000 */
  pollMs?: number;
}

/** What to publish for http-01 and where the certificate key comes from. */
export interface IssueOptions {
  /** Serve `keyAuthorization` at http://NAME/.well-known/acme-challenge/TOKEN. */
  publish(token: string, keyAuthorization: string): void | Promise<void>;
  unpublish(token: string): void | Promise<void>;
  /** @default a new ECDSA P-256 pair */
  certificateKey?: CryptoKeyPair;
}

/** An issued certificate. */
export interface Issued {
  /** The chain, leaf first (application/pem-certificate-chain). */
  certificatePem: string;
  /** The certificate's key, PKCS#8 PEM. */
  privateKeyPem: string;
  notAfter: Date;
}

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

const MAX_BAD_NONCE = 5;
const encoder = new TextEncoder();

/** An ACME account at one CA. */
export class AcmeClient {
  readonly #options: AcmeClientOptions;
  readonly #fetch: typeof fetch;
  readonly #client?: Deno.HttpClient;
  #directory?: Directory;
  #nonce?: string;
  #kid?: string;

  constructor(options: AcmeClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    if (options.caCerts?.length) this.#client = Deno.createHttpClient({ caCerts: options.caCerts });
  }

  /** Frees the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  async #request(url: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await this.#fetch(url, {
        ...init,
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 30_000),
        ...(this.#client ? { client: this.#client } : {}),
      } as RequestInit);
    } catch (err) {
      throw new AcmeError(`Cannot reach the ACME server at ${url}: ${(err as Error).message}`);
    }
  }

  async #dir(): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const r = await this.#request(this.#options.directoryUrl);
    if (!r.ok) {
      await r.body?.cancel();
      throw new AcmeError(`The ACME directory answered ${r.status}`, "", r.status);
    }
    const dir = await r.json() as Directory;
    if (!dir.newNonce || !dir.newAccount || !dir.newOrder) {
      throw new AcmeError("The ACME directory lacks newNonce, newAccount or newOrder");
    }
    return this.#directory = dir;
  }

  async #freshNonce(): Promise<string> {
    if (this.#nonce) {
      const nonce = this.#nonce;
      this.#nonce = undefined;
      return nonce;
    }
    const r = await this.#request((await this.#dir()).newNonce, { method: "HEAD" });
    await r.body?.cancel();
    const nonce = r.headers.get("replay-nonce");
    if (!nonce) throw new AcmeError("The ACME server gave no nonce");
    return nonce;
  }

  /** A JWS POST (§6.2); `payload` undefined is POST-as-GET (§6.3). */
  async #post(url: string, payload?: unknown, useJwk = false): Promise<Response> {
    const { accountKey } = this.#options;
    for (let attempt = 0;; attempt++) {
      const header: Record<string, unknown> = {
        alg: "ES256",
        nonce: await this.#freshNonce(),
        url,
      };
      if (useJwk) header.jwk = await publicJwk(accountKey.publicKey);
      else header.kid = this.#kid;
      const protectedPart = base64url(JSON.stringify(header));
      const payloadPart = payload === undefined ? "" : base64url(JSON.stringify(payload));
      const signature = await signRaw(
        accountKey.privateKey,
        encoder.encode(`${protectedPart}.${payloadPart}`),
      );
      const r = await this.#request(url, {
        method: "POST",
        headers: { "Content-Type": "application/jose+json" },
        body: JSON.stringify({
          protected: protectedPart,
          payload: payloadPart,
          signature: base64url(signature),
        }),
      });
      this.#nonce = r.headers.get("replay-nonce") ?? undefined;
      if (r.ok) return r;
      const problem = await r.json().catch(() => ({})) as { type?: string; detail?: string };
      if (problem.type === "urn:ietf:params:acme:error:badNonce" && attempt < MAX_BAD_NONCE) {
        continue;
      }
      throw new AcmeError(
        `${problem.type ?? `HTTP ${r.status}`}: ${problem.detail ?? r.statusText}`,
        problem.type ?? "",
        r.status,
      );
    }
  }

  /** Registers (or finds) the account of our key; gives its URL. */
  async account(): Promise<string> {
    if (this.#kid) return this.#kid;
    const r = await this.#post((await this.#dir()).newAccount, {
      termsOfServiceAgreed: true,
      ...(this.#options.contact ? { contact: this.#options.contact } : {}),
    }, true);
    await r.body?.cancel();
    const kid = r.headers.get("location");
    if (!kid) throw new AcmeError("The ACME server gave no account URL");
    return this.#kid = kid;
  }

  /** Polls `url` until its status leaves `waiting`; honours Retry-After (§7.5.1). */
  async #poll(url: string, waiting: string[]): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (this.#options.pollMs ?? 120_000);
    for (;;) {
      const r = await this.#post(url);
      const body = await r.json() as Record<string, unknown>;
      if (!waiting.includes(String(body.status))) return body;
      if (Date.now() > deadline) {
        throw new AcmeError(`Gave up waiting for ${url} (still ${body.status})`);
      }
      const after = Number(r.headers.get("retry-after"));
      const ms = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 10_000) : 500;
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }

  /** Orders a certificate for `names`, proving control of each over http-01. */
  async issue(names: string[], options: IssueOptions): Promise<Issued> {
    await this.account();
    const orderResponse = await this.#post((await this.#dir()).newOrder, {
      identifiers: names.map((value) => ({ type: "dns", value })),
    });
    const orderUrl = orderResponse.headers.get("location");
    const order = await orderResponse.json() as {
      authorizations: string[];
      finalize: string;
      status: string;
    };
    if (!orderUrl) throw new AcmeError("The ACME server gave no order URL");
    const thumbprint = await jwkThumbprint(await publicJwk(this.#options.accountKey.publicKey));
    for (const url of order.authorizations) {
      await this.#authorize(url, thumbprint, options);
    }
    const keys = options.certificateKey ?? await generateKeyPair();
    const csr = await createCsr(names, keys);
    await (await this.#post(order.finalize, { csr: base64url(csr) })).body?.cancel();
    const done = await this.#poll(orderUrl, ["pending", "ready", "processing"]);
    if (done.status !== "valid" || typeof done.certificate !== "string") {
      throw new AcmeError(
        `ACME order for ${names.join(", ")} ended ${done.status}: ${
          JSON.stringify(done.error ?? "")
        }`,
      );
    }
    const certificatePem = await (await this.#post(done.certificate)).text();
    const leaf = new X509Certificate(certificatePem);
    return {
      certificatePem,
      privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
      notAfter: new Date(leaf.validTo),
    };
  }

  async #authorize(url: string, thumbprint: string, options: IssueOptions): Promise<void> {
    const authz = await (await this.#post(url)).json() as {
      status: string;
      identifier: { value: string };
      challenges: { type: string; url: string; token: string }[];
    };
    if (authz.status === "valid") return;
    const challenge = authz.challenges.find((c) => c.type === "http-01");
    if (!challenge) {
      throw new AcmeError(
        `The ACME server offers no http-01 challenge for ${authz.identifier.value}`,
      );
    }
    // §8.1: the key authorization is the token and the account key's thumbprint.
    await options.publish(challenge.token, `${challenge.token}.${thumbprint}`);
    try {
      await (await this.#post(challenge.url, {})).body?.cancel();
      const result = await this.#poll(url, ["pending", "processing"]);
      if (result.status !== "valid") {
        const failed = (result.challenges as { error?: { type?: string; detail?: string } }[])
          ?.find((c) => c.error)?.error;
        throw new AcmeError(
          `ACME validation of ${authz.identifier.value} failed: ${failed?.type ?? result.status}: ${
            failed?.detail ?? ""
          }`,
          failed?.type ?? "",
        );
      }
    } finally {
      await options.unpublish(challenge.token);
    }
  }
}
