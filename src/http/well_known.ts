/**
 * What mail clients, other mail servers and CAs fetch without credentials:
 * Thunderbird autoconfig, Outlook autodiscover, the MTA-STS policy (RFC
 * 8461), each naming our host name and the listeners that really run, and
 * ACME http-01 answers.
 */
import type { Hono } from "hono";
import { normalizeAddress } from "../address.ts";
import { isLocalDomain } from "../store/accounts.ts";
import {
  AUTODISCOVER_REQUEST_LIMIT,
  type MailEndpoints,
  outlookAutodiscover,
  parseAutodiscoverRequest,
  thunderbirdConfig,
} from "./autoconfig.ts";
import type { HttpEnv, HttpServices } from "./context.ts";
import { mtaStsDomain, mtaStsPolicy } from "../security/mta_sts.ts";

/** The mail listeners a client can use, with their real ports. */
export function mailEndpoints(services: HttpServices): MailEndpoints {
  const port = (name: Parameters<HttpServices["listening"]>[0]) => services.listening(name)?.port;
  return {
    hostname: services.config.hostname,
    imaps: port("imaps"),
    imap: port("imap"),
    pop3s: port("pop3s"),
    pop3: port("pop3"),
    submissions: port("submissions"),
    submission: port("submission"),
  };
}

function xml(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: { "Content-Type": "application/xml; charset=utf-8", "Cache-Control": "no-cache" },
  });
}

function notFound(): Response {
  return new Response("Not found\n", {
    status: 404,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
}

/** The local domain of an address, or undefined. */
function localDomainOf(services: HttpServices, address: string): string | undefined {
  try {
    const domain = normalizeAddress(address).split("@")[1];
    return isLocalDomain(services.store, domain) ? domain : undefined;
  } catch {
    return undefined;
  }
}

/** Registers the autoconfig, autodiscover and MTA-STS routes. */
export function mountWellKnown(app: Hono<{ Bindings: HttpEnv }>, services: HttpServices): void {
  // Thunderbird asks https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=... and
  // https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml; we answer on any Host.
  const autoconfig = (url: URL, host: string | undefined): Response => {
    const email = url.searchParams.get("emailaddress");
    let domain: string | undefined;
    if (email) domain = localDomainOf(services, email);
    else {
      const name = (host ?? "").toLowerCase().replace(/:\d+$/, "").replace(/^autoconfig\./, "");
      domain = localDomainOf(services, `postmaster@${name}`);
    }
    if (!domain) return notFound();
    return xml(thunderbirdConfig(domain, mailEndpoints(services)));
  };
  for (const path of ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"]) {
    app.get(path, (c) => autoconfig(new URL(c.req.url), c.req.header("host")));
  }

  const autodiscover = async (request: Request): Promise<Response> => {
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > AUTODISCOVER_REQUEST_LIMIT) return xml("", 413);
    const text = await request.text();
    if (text.length > AUTODISCOVER_REQUEST_LIMIT) return xml("", 413);
    const address = parseAutodiscoverRequest(text);
    if (!address) return xml("", 400);
    if (!localDomainOf(services, address)) return notFound();
    return xml(outlookAutodiscover(address, mailEndpoints(services)));
  };
  for (const path of ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]) {
    app.post(path, (c) => autodiscover(c.req.raw));
  }

  // RFC 8555 §8.3: the key authorization for a token, as plain text.
  app.get("/.well-known/acme-challenge/:token", (c) => {
    const answer = services.acmeChallenges?.get(c.req.param("token"));
    if (answer === undefined) return notFound();
    return new Response(answer, {
      headers: { "Content-Type": "application/octet-stream", "Cache-Control": "no-store" },
    });
  });

  app.get("/.well-known/mta-sts.txt", (c) => {
    const domain = mtaStsDomain(c.req.header("host"), (d) => isLocalDomain(services.store, d));
    if (!domain) return notFound();
    const { mode, maxAgeSeconds } = services.config.mtaSts;
    const policy = mtaStsPolicy({ mode, mx: [services.config.hostname], maxAgeSeconds });
    return new Response(policy, {
      headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "max-age=300" },
    });
  });
}
