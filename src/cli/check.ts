/** `postino check DOMAIN`: what the world sees of a domain and this server. */
import { isIP } from "node:net";
import { normalizeDomain } from "../address.ts";
import { parseHostPort } from "../config.ts";
import { Resolver } from "../dns/resolver.ts";
import { checkDomain, formatReport } from "../setup/check.ts";
import { storedPublicIps } from "../setup/identity.ts";
import { isLocalDomain } from "../store/accounts.ts";
import { StoreError } from "../store/db.ts";
import { openCommandContext } from "./open_store.ts";
import { COMMON_FLAGS, parseFlags, UsageError } from "./usage.ts";

const HELP = `Usage: postino check DOMAIN [--ip IP]... [--dns IP:PORT] [--json] [--no-port25]

Looks up what the world sees of DOMAIN and this server and prints one line per
check: OK, WARN or FAIL, the check's name, and what was found and what to change.
FAIL: the MX, the host name's address, SPF for our address, each DKIM key,
DMARC, our address on a DNS blocklist ([check] dnsbl), the certificate our
https, imaps or submissions listener serves. WARN: reverse DNS, MTA-STS, TLS-RPT,
SRV records, autoconfig, outbound port 25, and a check that could not be made
(a blocklist refusing to answer, no TLS listener answering).
Exits 0 when nothing FAILs, 1 otherwise, 2 for a usage error.

Options:
  --ip IP         this server's public address (repeatable; default: the one
                  'postino setup' recorded, else what the host name resolves to)
  --dns IP:PORT   ask this DNS server (default: the config's, else /etc/resolv.conf)
  --json          print [{"check", "status", "detail"}]
  --no-port25     skip the outbound port 25 test (its line is left out)
  --data DIR      data directory (default $POSTINO_DATA, else ./data)
  --config FILE   config file
  -h, --help      show this help
`;

/** Runs `postino check ...`; returns the exit status. */
export async function checkCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      ...COMMON_FLAGS,
      ip: { type: "string", multiple: true },
      dns: { type: "string" },
      json: { type: "boolean" },
      "no-port25": { type: "boolean" },
    },
    "check",
    { min: 1, max: 1 },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  for (const ip of values.ip ?? []) {
    if (!isIP(ip)) throw new UsageError(`Invalid --ip '${ip}' (see 'postino check --help')`);
  }
  const dns = values.dns === undefined ? undefined : parseHostPort(values.dns);
  if (values.dns !== undefined && !dns) {
    throw new UsageError(
      `Invalid --dns '${values.dns}': expected IP:PORT (see 'postino check --help')`,
    );
  }
  const domain = normalizeDomain(positionals[0]);
  const { config, store } = openCommandContext({ data: values.data, config: values.config });
  try {
    if (!isLocalDomain(store, domain)) {
      throw new StoreError(
        `Domain ${domain} is not a local domain here; set it up first with: postino setup ${domain} --hostname FQDN`,
      );
    }
    const server = dns ?? config.dns;
    const resolver = new Resolver({ servers: server ? [server] : undefined, cache: true });
    const results = await checkDomain({
      store,
      config,
      domain,
      resolver,
      ips: (values.ip ?? storedPublicIps(store)).map((ip) => ip.toLowerCase()),
      port25: !values["no-port25"],
    });
    console.log(values.json ? JSON.stringify(results, null, 2) : formatReport(results));
    return results.some((r) => r.status === "fail") ? 1 : 0;
  } finally {
    store.close();
  }
}
