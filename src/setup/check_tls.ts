/**
 * The network checks of `postino check`: the certificate our TLS listeners
 * serve, the MTA-STS policy as senders fetch it, and whether this machine
 * may connect out to port 25. Names are resolved through our resolver, never
 * the system's, and every connection has a time limit.
 */
import type { X509Certificate } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { Config, ListenerName } from "../config.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { CheckContext, CheckResult } from "./check.ts";

const TIMEOUT_MS = 8_000;
const EXPIRY_WARNING_MS = 14 * 86_400_000;
/** RFC 8461 §3.3 lets a policy be at most 64 KiB; the headers get the same again. */
const MAX_RESPONSE = 128 * 1024;

/** Where one of our TLS listeners can be reached. */
export interface TlsEndpoint {
  listener: ListenerName;
  host: string;
  port: number;
}

/** The certificate a listener served, where, and whether a CA we trust vouches for it. */
export interface PeerCertificate {
  cert: X509Certificate;
  /** `listener host:port`, for the report. */
  endpoint: string;
  trusted: boolean;
  /** Why it is not trusted. */
  problem?: string;
}

/** Options of the connections made here; tests give a CA and a port. */
export interface TlsOptions {
  /** Trust these CA certificates (PEM) instead of the system's. */
  ca?: string;
  /** @default 8000 */
  timeoutMs?: number;
}

/**
 * The configured listeners with implicit TLS (https, imaps, submissions), in
 * that order: at their own address, or at our first address when they listen
 * on every interface. Port 0 (a free port, unknown here) is left out.
 */
export function tlsEndpoints(config: Config, ours: string[]): TlsEndpoint[] {
  const endpoints: TlsEndpoint[] = [];
  for (const listener of ["https", "imaps", "submissions"] as const) {
    const at = config.listeners[listener];
    if (!at || at.port === 0) continue;
    const wildcard = at.host === "" || at.host === "0.0.0.0" || at.host === "::";
    const host = wildcard ? ours[0] : at.host;
    if (host) endpoints.push({ listener, host, port: at.port });
  }
  return endpoints;
}

const where = (e: { host: string; port: number }) =>
  e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;

/** Connects with TLS to `host:port` naming `servername`; resolves with the socket once secure. */
function connectTls(
  host: string,
  port: number,
  servername: string,
  options: TlsOptions & { verify: boolean },
): Promise<tls.TLSSocket> {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername,
      rejectUnauthorized: options.verify,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${where({ host, port })} within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * The certificate the first endpoint that completes a TLS handshake serves
 * for `hostname`, and whether it chains to a trusted CA; a string says why
 * none did.
 */
export async function peerCertificate(
  endpoints: TlsEndpoint[],
  hostname: string,
  options: TlsOptions = {},
): Promise<PeerCertificate | string> {
  if (endpoints.length === 0) {
    return "no TLS listener to connect to (https, imaps and submissions are off or on port 0)";
  }
  const tried: string[] = [];
  for (const endpoint of endpoints) {
    const at = `${endpoint.listener} ${where(endpoint)}`;
    try {
      const socket = await connectTls(endpoint.host, endpoint.port, hostname, {
        ...options,
        verify: false,
      });
      const cert = socket.getPeerX509Certificate();
      const trusted = socket.authorized;
      const problem = socket.authorizationError ? String(socket.authorizationError) : undefined;
      socket.destroy();
      if (!cert) return `${at} sent no certificate`;
      return { cert, endpoint: at, trusted, problem: trusted ? undefined : problem ?? "unknown" };
    } catch (err) {
      tried.push(`${at}: ${(err as Error).message}`);
    }
  }
  return `no TLS listener answered (${tried.join("; ")})`;
}

/**
 * The certificate names our host, is valid now and for two weeks more, and
 * chains to a trusted CA. Nothing answering is a WARN: the check could not
 * be made from here.
 */
export async function checkCertificate(
  ctx: CheckContext,
  read: (endpoints: TlsEndpoint[], hostname: string) => Promise<PeerCertificate | string>,
): Promise<CheckResult> {
  const endpoints = tlsEndpoints(ctx.config, ctx.ours);
  if (endpoints.length === 0 && ctx.ours.length === 0) {
    return { check: "tls", status: "warn", detail: "no address of ours to connect to; give --ip" };
  }
  const peer = await read(endpoints, ctx.hostname).catch((err) => String((err as Error).message));
  if (typeof peer === "string") return { check: "tls", status: "warn", detail: peer };
  const { cert, endpoint } = peer;
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const fix =
    `use --acme letsencrypt, or --tls-cert/--tls-key with a certificate for ${ctx.hostname}`;
  const failed = (detail: string): CheckResult => ({ check: "tls", status: "fail", detail });
  const names = certificateNames(cert);
  if (!names.some((name) => nameCovers(name, ctx.hostname))) {
    return failed(
      `${endpoint} serves a certificate for ${names.join(", ") || "no name"}, not ` +
        `${ctx.hostname}; ${fix}`,
    );
  }
  const now = Date.now();
  if (notAfter <= now) {
    return failed(`${endpoint}: the certificate expired on ${day(notAfter)}; ${fix}`);
  }
  if (notBefore > now) {
    return failed(
      `${endpoint}: the certificate is not valid before ${day(notBefore)}; check the clock`,
    );
  }
  if (!peer.trusted) {
    return failed(
      `${endpoint}: the certificate for ${ctx.hostname} is not trusted (${peer.problem}); ${fix}`,
    );
  }
  if (notAfter - now < EXPIRY_WARNING_MS) {
    return {
      check: "tls",
      status: "warn",
      detail: `${endpoint}: the certificate expires on ${day(notAfter)}; renew it (${fix})`,
    };
  }
  return {
    check: "tls",
    status: "ok",
    detail: `${endpoint}: the certificate names ${ctx.hostname}, valid until ${day(notAfter)}`,
  };
}

/**
 * Whether a name of a certificate or an MTA-STS `mx:` pattern covers `host`:
 * equal, or `*.` standing for exactly one label (RFC 6125 §6.4.3, RFC 8461 §4.1).
 */
export function nameCovers(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const suffix = pattern.slice(1);
  const label = host.slice(0, -suffix.length);
  return host.endsWith(suffix) && label !== "" && !label.includes(".");
}

/**
 * The DNS names a certificate is for: its subjectAltName DNS entries, else
 * its subject CN (RFC 6125 §6.4.4). Our own, as Deno 2.9's `checkHost` tries
 * the CN before the SANs and misses wildcard SANs (node matches them; see
 * denoland/deno#36250).
 */
export function certificateNames(cert: X509Certificate): string[] {
  const dns = (cert.subjectAltName ?? "").split(/,\s*/)
    .filter((n) => n.startsWith("DNS:"))
    .map((n) => n.slice(4).toLowerCase());
  if (dns.length) return dns;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** The first address of `name`, IPv4 first. */
async function firstAddress(resolver: Resolver, name: string): Promise<string | undefined> {
  const a = await resolver.a(name);
  if (a.kind === "ok" && a.records.length) return a.records[0];
  const aaaa = await resolver.aaaa(name);
  return aaaa.kind === "ok" ? aaaa.records[0] : undefined;
}

/**
 * The body of an HTTP/1.1 response (one character per octet), if its status
 * is 200 (RFC 9112 §6: chunked or not); throws saying what is wrong.
 */
export function responseBody(raw: string): string {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) throw new Error("the HTTP response has no end of headers");
  const [status, ...headers] = raw.slice(0, split).split("\r\n");
  const code = /^HTTP\/1\.[01] (\d{3})/.exec(status)?.[1];
  // RFC 8461 §3.3: senders do not follow redirects; only a 200 counts.
  if (code !== "200") throw new Error(`the server answered "${status}"`);
  let body = raw.slice(split + 4);
  const chunked = headers.some((h) => /^transfer-encoding:.*chunked/i.test(h));
  if (!chunked) return body;
  let text = "";
  for (;;) {
    const eol = body.indexOf("\r\n");
    const size = eol < 0 ? NaN : parseInt(body.slice(0, eol), 16);
    if (!Number.isInteger(size)) throw new Error("the chunked HTTP body is broken");
    if (size === 0) return text;
    text += body.slice(eol + 2, eol + 2 + size);
    body = body.slice(eol + 2 + size + 2);
  }
}

/**
 * The MTA-STS policy as a sender fetches it: HTTPS to mta-sts.DOMAIN port
 * 443 with a trusted certificate naming it (RFC 8461 §3.3), the name
 * resolved by our resolver. Rejects saying why it could not be fetched.
 */
export async function fetchMtaStsPolicy(
  domain: string,
  resolver: Resolver,
  options: TlsOptions & { port?: number } = {},
): Promise<string> {
  const name = `mta-sts.${domain}`;
  const ip = await firstAddress(resolver, name);
  if (!ip) throw new Error(`${name} does not resolve`);
  const port = options.port ?? 443;
  const socket = await connectTls(ip, port, name, { ...options, verify: true }).catch((err) => {
    throw new Error(`cannot fetch it from ${where({ host: ip, port })}: ${(err as Error).message}`);
  });
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const raw = await new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${name} sent no complete answer within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    // Latin-1 keeps one character per octet, so chunk sizes count right; the body is UTF-8.
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > MAX_RESPONSE) socket.destroy();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(
      `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`,
    );
  });
  if (raw.length > MAX_RESPONSE) throw new Error(`${name} sent more than 64 KiB`);
  const body = responseBody(raw);
  return new TextDecoder().decode(Uint8Array.from(body, (c) => c.charCodeAt(0)));
}

/** The policy we serve, as fetched, names our host as an mx (RFC 8461 §3.2) (WARN). */
export async function checkMtaStsPolicy(
  ctx: CheckContext,
  fetchPolicy: (domain: string) => Promise<string>,
): Promise<CheckResult> {
  const url = `https://mta-sts.${ctx.domain}/.well-known/mta-sts.txt`;
  let policy: string;
  try {
    policy = await fetchPolicy(ctx.domain);
  } catch (err) {
    return {
      check: "mta-sts",
      status: "warn",
      detail: `_mta-sts.${ctx.domain} is published, but ${url} cannot be fetched: ${
        (err as Error).message
      }; point mta-sts.${ctx.domain} at ${ctx.hostname} and serve HTTPS with a certificate naming it`,
    };
  }
  const fields = new Map<string, string[]>();
  for (const line of policy.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_-]+):\s*(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1].toLowerCase(), [...fields.get(m[1].toLowerCase()) ?? [], m[2]]);
  }
  const warn = (detail: string): CheckResult => ({ check: "mta-sts", status: "warn", detail });
  if (fields.get("version")?.[0] !== "STSv1") return warn(`${url} is not an STSv1 policy`);
  const mode = fields.get("mode")?.[0] ?? "";
  if (!["testing", "enforce", "none"].includes(mode)) {
    return warn(`${url} has no valid mode (testing, enforce or none)`);
  }
  if (mode === "none") return warn(`${url} has mode: none, which withdraws the policy`);
  const mx = (fields.get("mx") ?? []).map((p) => p.toLowerCase());
  if (!mx.some((p) => nameCovers(p, ctx.hostname))) {
    return warn(`${url} names mx ${mx.join(", ") || "(none)"}, not ${ctx.hostname}`);
  }
  return {
    check: "mta-sts",
    status: "ok",
    detail: `_mta-sts.${ctx.domain} is published and ${url} (mode ${mode}) names ${ctx.hostname}`,
  };
}

/**
 * Outbound port 25: many VPS providers block it, and then mail only leaves
 * through a relay. Connects to a large provider's MX and waits for its 220.
 */
export async function checkPort25(
  ctx: CheckContext,
  probe?: () => Promise<string | undefined>,
): Promise<CheckResult> {
  const problem = await (probe ?? (() => probePort25(ctx.resolver)))();
  return problem === undefined
    ? { check: "port25", status: "ok", detail: "outbound connections to port 25 work" }
    : {
      check: "port25",
      status: "warn",
      detail: `${problem}; if your provider blocks port 25, send through a relay (--relay)`,
    };
}

/** Undefined when the MX of gmail.com greets us on port 25, else what went wrong. */
async function probePort25(resolver: Resolver): Promise<string | undefined> {
  const mx = await resolver.mx("gmail.com");
  const host = mx.kind === "ok" ? mx.records[0]?.exchange : undefined;
  const ip = host ? await firstAddress(resolver, host) : undefined;
  if (!host || !ip) {
    return "could not look up a mail server (the MX of gmail.com) to try port 25 with";
  }
  return await new Promise((resolve) => {
    const socket = net.connect({ host: ip, port: 25 });
    const done = (result: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(`no answer from ${host} on port 25`), TIMEOUT_MS);
    socket.once("data", (chunk) => {
      const greeting = String(chunk);
      done(greeting.startsWith("220") ? undefined : `${host} said ${greeting.trim()}`);
    });
    socket.once("error", (err) => done(`cannot connect to ${host} on port 25: ${err.message}`));
  });
}
