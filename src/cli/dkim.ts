/** `postino dkim keygen|list`: the keys outbound mail of the local domains is signed with. */
import { normalizeDomain } from "../address.ts";
import {
  defaultSelector,
  DKIM_ALGORITHMS,
  type DkimAlgorithm,
  type DkimDnsRecord,
  dnsRecord,
  generateDkimKey,
  isValidSelector,
} from "../security/dkim.ts";
import { addDkimKey, checkCanAddDkimKey, listDkimKeys } from "../store/dkim_keys.ts";
import { openCommandStore } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519]
                     create a signing key for the local DOMAIN and print its DNS record
  postino dkim list  list keys: domain, selector, algorithm, created (UTC), active or not

The newest active key of a domain signs its outbound mail from the moment it
is made, so publish the printed TXT record right away.

Options:
  --selector S         the key's selector (default 'postino' and the UTC year
                       and month, e.g. postino202611); one per domain and key
  --algorithm A        rsa (2048 bits, understood everywhere; the default) or
                       ed25519 (RFC 8463; not every receiver checks it yet)
  --data DIR           data directory (default $POSTINO_DATA, else ./data)
  --config FILE        config file
  -h, --help           show this help
`;

const GROUP = {
  name: "dkim",
  help: HELP,
  arity: { keygen: { min: 1, max: 1 }, list: { min: 0, max: 0 } },
};

const FLAGS = {
  ...COMMON_FLAGS,
  selector: { type: "string" },
  algorithm: { type: "string" },
} as const;

/** Runs `postino dkim ...`; returns the exit status. */
export async function dkimCommand(args: string[]): Promise<number> {
  const parsed = parseSubcommand(args, GROUP, FLAGS);
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  if (sub === "list") {
    for (const flag of ["selector", "algorithm"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`Option --${flag} is for keygen only (see 'postino dkim --help')`);
      }
    }
  }
  const algorithm = parseAlgorithm(values.algorithm);
  const selector = parseSelector(values.selector);
  const domain = positionals[0] === undefined ? "" : normalizeDomain(positionals[0]);
  const store = openCommandStore(values);
  try {
    switch (sub) {
      case "keygen": {
        // Check before the key is made: an RSA key takes a moment.
        checkCanAddDkimKey(store, domain, selector);
        const key = await generateDkimKey(algorithm);
        addDkimKey(store, { domain, selector, ...key });
        console.log(
          `Created ${algorithm} DKIM key ${selector} for ${domain}; publish this DNS record:\n`,
        );
        console.log(formatRecord(dnsRecord(domain, selector, key)));
        break;
      }
      case "list":
        for (const k of listDkimKeys(store)) {
          const created = k.createdAt.toISOString().replace(/\.\d+Z$/, "Z");
          const state = k.active ? "active" : "inactive";
          console.log(`${k.domain}\t${k.selector}\t${k.algorithm}\t${created}\t${state}`);
        }
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}

function parseAlgorithm(value: string | undefined): DkimAlgorithm {
  if (value === undefined) return "rsa";
  const algorithm = value.toLowerCase();
  if (!(DKIM_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new UsageError(
      `Unknown DKIM algorithm '${value}'; use ${
        DKIM_ALGORITHMS.join(" or ")
      } (see 'postino dkim --help')`,
    );
  }
  return algorithm as DkimAlgorithm;
}

function parseSelector(value: string | undefined): string {
  if (value === undefined) return defaultSelector();
  if (!isValidSelector(value)) {
    throw new UsageError(
      `Invalid selector '${value}': use letters, digits, hyphens and dots (see 'postino dkim --help')`,
    );
  }
  return value.toLowerCase();
}

/**
 * The record as a person pastes it: name, type and value for a DNS provider's
 * form, then one zone-file line whose value is cut into quoted strings of at
 * most 255 octets (RFC 1035 §3.3).
 */
function formatRecord(record: DkimDnsRecord): string {
  const quoted = record.strings.map((s) => `"${s}"`).join(" ");
  return [
    `Name:  ${record.name}`,
    `Type:  ${record.type}`,
    `Value: ${record.value}`,
    "",
    "As a zone file line:",
    `${record.name}. IN TXT ${quoted}`,
  ].join("\n");
}
