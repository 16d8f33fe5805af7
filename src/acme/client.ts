/**
 * A small ACME client (RFC 8555) over `fetch` and WebCrypto: an account, an
 * order, http-01 challenges, a CSR and the certificate chain. Our own rather
 * than npm:acme-client, which brings some 50 packages and axios over
 * node:https (deaf to Deno's CA settings, and memory on a small VPS), while
 * the protocol needs only JWS ES256 and a DER CSR. The requests themselves
 * (nonces, JWS, problems, time limits) are ./transport.ts.
 *
 * Invariants:
 * - requests go one at a time, in the order of §7.4;
 * - every poll has a deadline and honours Retry-After (§7.5.1);
 * - every http-01 answer published is unpublished again, whatever happens;
 * - a certificate is returned only when it parses and matches our key.
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
} from "./keys.ts";
import {
  AcmeError,
  AcmeTransport,
  type AcmeTransportOptions,
  json,
  type Problem,
  problemError,
  type Reply,
} from "./transport.ts";

export { AcmeError };

/** Options of {@link AcmeClient}. */
export interface AcmeClientOptions extends AcmeTransportOptions {
  /** The account's contact, e.g. `["mailto:postmaster@example.com"]`. */
  contact?: string[];
  /** How long to poll an authorization or the order. @default 120000 */
  pollTimeoutMs?: number;
}

/** What {@link AcmeClient.issue} needs besides the names. */
export interface IssueOptions {
  /** Serve `keyAuthorization` at http://NAME/.well-known/acme-challenge/TOKEN (§8.3). */
  publish(token: string, keyAuthorization: string): void | Promise<void>;
  /** Stop serving it: called for every token given to `publish`, also when the order fails. */
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

/** An order (§7.1.3), an authorization (§7.1.4) and its challenges (§8), as far as we read them. */
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

const PEM_CHAIN = "application/pem-certificate-chain";

/** An ACME account at one CA: registers it and orders certificates over http-01. */
export class AcmeClient {
  readonly #options: AcmeClientOptions;
  readonly #transport: AcmeTransport;

  constructor(options: AcmeClientOptions) {
    if (!isP256(options.accountKey.privateKey)) {
      throw new TypeError("Cannot use the ACME account key: it must be ECDSA P-256");
    }
    this.#options = options;
    this.#transport = new AcmeTransport(options);
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
    return this.#transport.session(
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
    return this.#transport.session(`ACME order for ${unique.join(", ")} failed`, async () => {
      if (unique.length === 0) throw new AcmeError("no names to order");
      unique.forEach(checkCertificateName);
      await this.#account(false);
      const created = await this.#transport.post((await this.#transport.directory()).newOrder, {
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
      order = json<Order>(await this.#transport.post(order.finalize, { csr }));
      if (order.status === "processing" || order.status === "ready") {
        order = await this.#poll<Order>(orderUrl, ["processing", "ready"], "certificate");
      }
      if (order.status !== "valid" || !order.certificate) {
        throw problemError(`the order is ${order.status}`, order.error);
      }
      const chain = await this.#transport.post(order.certificate, undefined, { accept: PEM_CHAIN });
      return await issued(chain, keys);
    });
  }

  async #account(onlyReturnExisting: boolean): Promise<string> {
    if (this.#transport.kid) return this.#transport.kid;
    const { contact } = this.#options;
    const payload = onlyReturnExisting
      ? { onlyReturnExisting: true }
      : { termsOfServiceAgreed: true, ...(contact?.length ? { contact } : {}) };
    const reply = await this.#transport.post(
      (await this.#transport.directory()).newAccount,
      payload,
      { jwk: true },
    );
    const kid = reply.headers.get("location");
    if (!kid) throw new AcmeError("the CA gave no account URL (Location)");
    const { status } = json<{ status?: string }>(reply);
    if (status && status !== "valid") throw new AcmeError(`the account ${kid} is ${status}`);
    return this.#transport.kid = kid;
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
      const reply = await this.#transport.post(url);
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
        const authz = json<Authorization>(await this.#transport.post(url));
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
        if (challenge.status === "pending") await this.#transport.post(challenge.url, {}); // §7.5.1
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
