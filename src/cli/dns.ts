/** `postino dns records DOMAIN`: the DNS records a local domain should publish. */
import { isIP } from "node:net";
import { normalizeDomain } from "../address.ts";
import { zoneLines } from "../dns/records_to_publish.ts";
import { domainRecords } from "../setup/domain_records.ts";
import { storedPublicIps } from "../setup/identity.ts";
import { openCommandContext } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino dns records DOMAIN [--json] [--ip IP]...

Prints the records DOMAIN should publish (MX, SPF, DKIM, DMARC, MTA-STS,
TLS-RPT, autoconfig and SRV) as zone-file lines, or with --json as
[{"name", "type", "value", "purpose", "required"}], as the API does.
The host name comes from the config (hostname, --config), else from
'postino setup'; the addresses from --ip, else from 'postino setup'.

Options:
  --json          print JSON
  --ip IP         this server's public address (repeatable)
  --data DIR      data directory (default $POSTINO_DATA, else ./data)
  --config FILE   config file
  -h, --help      show this help
`;

const GROUP = { name: "dns", help: HELP, arity: { records: { min: 1, max: 1 } } };

/** Runs `postino dns ...`; returns the exit status. */
export async function dnsCommand(args: string[]): Promise<number> {
  const parsed = parseSubcommand(args, GROUP, {
    ...COMMON_FLAGS,
    json: { type: "boolean" },
    ip: { type: "string", multiple: true },
  });
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  for (const ip of values.ip ?? []) {
    if (!isIP(ip)) throw new UsageError(`Invalid --ip '${ip}' (see 'postino dns --help')`);
  }
  const domain = normalizeDomain(positionals[0]);
  const { config, store } = openCommandContext({ data: values.data, config: values.config });
  try {
    const ips = values.ip ?? storedPublicIps(store);
    const records = await domainRecords(store, config, domain, ips);
    console.log(values.json ? JSON.stringify(records, null, 2) : zoneLines(records).trimEnd());
  } finally {
    store.close();
  }
  return 0;
}
