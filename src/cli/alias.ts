/** `postino alias add|del|list`: addresses that forward to users or other addresses. */
import { normalizeAddress } from "../address.ts";
import { addAlias, listAliases, removeAlias } from "../store/accounts.ts";
import { openCommandStore } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand } from "./usage.ts";

const HELP = `Usage:
  postino alias add ALIAS TARGET   deliver mail for ALIAS to TARGET (local or remote);
                                   add again with another TARGET to fan out
  postino alias del ALIAS          delete ALIAS with all its targets
  postino alias list               list aliases and their targets

ALIAS must be in a local domain and must not be a user.

Options:
  --data DIR     data directory (default $POSTINO_DATA, else ./data)
  --config FILE  config file
  -h, --help     show this help
`;

const GROUP = {
  name: "alias",
  help: HELP,
  arity: { add: { min: 2, max: 2 }, del: { min: 1, max: 1 }, list: { min: 0, max: 0 } },
};

/** Runs `postino alias ...`; returns the exit status. */
export function aliasCommand(args: string[]): number {
  const parsed = parseSubcommand(args, GROUP, COMMON_FLAGS);
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  const [alias, target] = positionals.map(normalizeAddress);
  const store = openCommandStore(values);
  try {
    switch (sub) {
      case "add":
        addAlias(store, alias, target);
        console.log(`Added alias ${alias} -> ${target}`);
        break;
      case "del":
        removeAlias(store, alias);
        console.log(`Deleted alias ${alias}`);
        break;
      case "list":
        for (const a of listAliases(store)) console.log(`${a.address}\t${a.target}`);
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}
