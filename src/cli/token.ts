/** `postino token create|list|del`: API tokens for `Authorization: Bearer`. */
import { normalizeAddress } from "../address.ts";
import { createApiToken, deleteApiToken, listApiTokens } from "../store/api_tokens.ts";
import { openCommandStore } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino token create NAME [--user ADDRESS]   create a token and print it (only this once)
  postino token list                           list tokens: name, whom it acts as, created,
                                               last used
  postino token del NAME                       delete a token; it stops working at once

Without --user a token has admin rights; with it, it acts as that user (an admin
user's token is an admin's). Send it as 'Authorization: Bearer TOKEN'. Only its
hash is stored: a lost token cannot be shown again, only deleted and replaced.

Options:
  --user ADDRESS  create: the user the token acts as
  --data DIR      data directory (default $POSTINO_DATA, else ./data)
  --config FILE   config file
  -h, --help      show this help
`;

const ONE = { min: 1, max: 1 };
const GROUP = {
  name: "token",
  help: HELP,
  arity: { create: ONE, del: ONE, list: { min: 0, max: 0 } },
};

/** Runs `postino token ...`; returns the exit status. */
export async function tokenCommand(args: string[]): Promise<number> {
  const parsed = parseSubcommand(args, GROUP, { ...COMMON_FLAGS, user: { type: "string" } });
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  if (values.user !== undefined && sub !== "create") {
    throw new UsageError("Option --user is for create only");
  }
  const user = values.user === undefined ? undefined : normalizeAddress(values.user);
  const store = openCommandStore(values);
  try {
    switch (sub) {
      case "create": {
        const secret = await createApiToken(store, positionals[0], user);
        console.log(secret);
        console.error(
          `Created token ${positionals[0]} (${user ? `acts as ${user}` : "admin"}); ` +
            "it is shown only this once",
        );
        break;
      }
      case "del":
        deleteApiToken(store, positionals[0]);
        console.log(`Deleted token ${positionals[0]}`);
        break;
      case "list": {
        const tokens = listApiTokens(store);
        for (const t of tokens) {
          const used = t.lastUsedAt ? t.lastUsedAt.toISOString() : "never used";
          console.log(
            `${t.name}\t${t.user ?? "admin"}\t${t.createdAt.toISOString()}\t${used}`,
          );
        }
        if (tokens.length === 0) console.log("No tokens");
        break;
      }
    }
  } finally {
    store.close();
  }
  return 0;
}
