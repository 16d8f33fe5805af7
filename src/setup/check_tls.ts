/**
 * The network checks of `postino check`: the certificate our TLS listeners
 * serve, the MTA-STS policy as senders fetch it, and whether this machine
 * may connect out to port 25. Names are resolved through our resolver, never
 * the system's, and every connection has a time limit.
 */
import type { X509Certificate } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { Resolver } from "../dns/resolver.ts";
import type { CheckContext, CheckResult } from "./check.ts";

const TIMEOUT_MS = 8_000;
const EXPIRY_WARNING_MS = 14 * 86_400_000;

/** Connects with TLS to `ip:port` naming `servername`; resolves with the socket once secure. */
function connectTls(
  ip: string,
  port: number,
  servername: string,
  verify: boolean,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: ip, port, servername, rejectUnauthorized: verify });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${ip}:${port} within ${TIMEOUT_MS / 1000}s`));
    }, TIMEOUT_MS);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * The certificate our listeners serve on `ip` for `hostname`: HTTPS (443),
 * IMAPS (993) or submissions (465), the first that answers; a string says
 * why none did. Whether a public CA vouches for it is checked too.
 */
export async function peerCertificate(
  ip: string,
  hostname: string,
): Promise<X509Certificate | string> {
  const tried: string[] = [];
  for (const port of [443, 993, 465]) {
    try {
      const socket = await connectTls(ip, port, hostname, false);
      const cert = socket.getPeerX509Certificate();
      const trusted = socket.authorized;
      const why = socket.authorizationError ? String(socket.authorizationError) : "";
      socket.destroy();
      if (!cert) return `${ip}:${port} sent no certificate`;
      if (!trusted) return Object.assign(cert, { untrusted: why || "not trusted" });
      return cert;
    } catch (err) {
      tried.push(`${port}: ${(err as Error).message}`);
    }
  }
  return `nothing answered TLS on ${ip} (${tried.join("; ")})`;
}

/** The certificate is trusted, valid for two weeks more, and names our host. */
export async function checkCertificate(
  ctx: CheckContext,
  read: (ip: string, hostname: string) => Promise<X509Certificate | string>,
): Promise<CheckResult> {
  const ip = ctx.ours[0];
  if (!ip) return { check: "tls", status: "warn", detail: "no address of ours to connect to" };
  const cert = await read(ip, ctx.hostname).catch((err) => String((err as Error).message));
  if (typeof cert === "string") return { check: "tls", status: "warn", detail: cert };
  const untrusted = (cert as X509Certificate & { untrusted?: string }).untrusted;
  const notAfter = Date.parse(cert.validTo);
  const left = notAfter - Date.now();
  const until = new Date(notAfter).toISOString().slice(0, 10);
  if (!cert.checkHost(ctx.hostname)) {
    return {
      check: "tls",
      status: "fail",
      detail: `the certificate names ${
        cert.subjectAltName ?? cert.subject
      }, not ${ctx.hostname}; use --acme or a certificate for ${ctx.hostname}`,
    };
  }
  if (left <= 0) {
    return { check: "tls", status: "fail", detail: `the certificate expired on ${until}` };
  }
  if (untrusted) {
    return {
      check: "tls",
      status: "fail",
      detail:
        `the certificate for ${ctx.hostname} is not trusted (${untrusted}); use --acme letsencrypt`,
    };
  }
  if (left < EXPIRY_WARNING_MS) {
    return {
      check: "tls",
      status: "warn",
      detail: `the certificate expires on ${until}; renew it`,
    };
  }
  return {
    check: "tls",
    status: "ok",
    detail: `the certificate names ${ctx.hostname}, valid until ${until}`,
  };
}

/**
 * The MTA-STS policy as a sender fetches it: HTTPS to mta-sts.DOMAIN with a
 * trusted certificate (RFC 8461 §3.3), the name resolved by our resolver.
 */
export async function fetchMtaStsPolicy(
  domain: string,
  resolver?: Resolver,
): Promise<string | undefined> {
  const name = `mta-sts.${domain}`;
  const ip = resolver ? await firstAddress(resolver, name) : undefined;
  if (!ip) return undefined;
  const socket = await connectTls(ip, 443, name, true);
  return await new Promise<string | undefined>((resolve) => {
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, TIMEOUT_MS);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => text += chunk);
    socket.on("error", () => resolve(undefined));
    socket.on("close", () => {
      clearTimeout(timer);
      const [head, ...body] = text.split("\r\n\r\n");
      resolve(/^HTTP\/1\.[01] 200/.test(head) ? body.join("\r\n\r\n") : undefined);
    });
    socket.write(
      `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`,
    );
  });
}

async function firstAddress(resolver: Resolver, name: string): Promise<string | undefined> {
  const a = await resolver.a(name);
  if (a.kind === "ok" && a.records.length) return a.records[0];
  const aaaa = await resolver.aaaa(name);
  return aaaa.kind === "ok" ? aaaa.records[0] : undefined;
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

async function probePort25(resolver: Resolver): Promise<string | undefined> {
  const mx = await resolver.mx("gmail.com");
  const host = mx.kind === "ok" ? mx.records[0]?.exchange : undefined;
  const ip = host ? await firstAddress(resolver, host) : undefined;
  if (!ip) return "could not look up a mail server to try port 25 with";
  return await new Promise((resolve) => {
    const socket = net.connect({ host: ip, port: 25 });
    const done = (result: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(`no answer from ${host} on port 25`), TIMEOUT_MS);
    socket.once(
      "data",
      (chunk) =>
        done(String(chunk).startsWith("220") ? undefined : `${host} said ${String(chunk).trim()}`),
    );
    socket.once("error", (err) => done(`cannot connect to ${host} on port 25: ${err.message}`));
  });
}
