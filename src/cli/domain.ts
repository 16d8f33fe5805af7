/** `postino domain add|del|list`: the domains this server receives mail for. */
import { normalizeDomain } from "../address.ts";
import { addDomain, listDomains, removeDomain } from "../store/accounts.ts";
import { openCommandStore } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand } from "./usage.ts";

const HELP = `Usage:
  postino domain add DOMAIN   receive mail for DOMAIN (IDNs are stored as A-labels)
  postino domain del DOMAIN   stop receiving mail for DOMAIN (it must have no users or aliases)
  postino domain list         list local domains with their user and alias counts

Options:
  --data DIR     data directory (default $POSTINO_DATA, else ./data)
  --config FILE  config file
  -h, --help     show this help
`;

const GROUP = {
  name: "domain",
  help: HELP,
  arity: { add: { min: 1, max: 1 }, del: { min: 1, max: 1 }, list: { min: 0, max: 0 } },
};

/** Runs `postino domain ...`; returns the exit status. */
export function domainCommand(args: string[]): number {
  const parsed = parseSubcommand(args, GROUP, COMMON_FLAGS);
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  const domain = positionals[0] === undefined ? "" : normalizeDomain(positionals[0]);
  const store = openCommandStore(values);
  try {
    switch (sub) {
      case "add":
        addDomain(store, domain);
        console.log(`Added domain ${domain}`);
        break;
      case "del":
        removeDomain(store, domain);
        console.log(`Deleted domain ${domain}`);
        break;
      case "list":
        for (const d of listDomains(store)) {
          console.log(`${d.name}\t${d.users} users\t${d.aliases} aliases`);
        }
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}
