/** `postino user add|passwd|del|list`: manage the accounts that receive and send mail. */
import { normalizeAddress } from "../address.ts";
import { hashPassword } from "../auth/password.ts";
import {
  addUser,
  checkCanAddUser,
  findUser,
  listUsers,
  removeUser,
  setPasswordHash,
} from "../store/accounts.ts";
import { StoreError } from "../store/db.ts";
import { openCommandStore } from "./open_store.ts";
import { promptPassword, readPasswordFromStdin } from "./password_input.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino user add ADDRESS [--password-stdin]   add a user (its domain must be local)
  postino user passwd ADDRESS [--password-stdin] set a user's password
  postino user del ADDRESS                       delete a user and all their mail
  postino user list                              list users: address, messages, bytes stored

Without --password-stdin the password is asked on the terminal, twice.

Options:
  --password-stdin  read the password from standard input (one line)
  --data DIR        data directory (default $POSTINO_DATA, else ./data)
  --config FILE     config file
  -h, --help        show this help
`;

const ONE = { min: 1, max: 1 };
const GROUP = {
  name: "user",
  help: HELP,
  arity: { add: ONE, passwd: ONE, del: ONE, list: { min: 0, max: 0 } },
};

/** Runs `postino user ...`; returns the exit status. */
export async function userCommand(args: string[]): Promise<number> {
  const flags = { ...COMMON_FLAGS, "password-stdin": { type: "boolean" } } as const;
  const parsed = parseSubcommand(args, GROUP, flags);
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  if (values["password-stdin"] && sub !== "add" && sub !== "passwd") {
    throw new UsageError(`Option --password-stdin is for add and passwd only`);
  }
  const address = positionals[0] === undefined ? "" : normalizeAddress(positionals[0]);
  const store = openCommandStore(values);
  try {
    // Check what can be checked before asking for a password nobody will use.
    if (sub === "add") checkCanAddUser(store, address);
    if (sub === "passwd" && !findUser(store, address)) {
      throw new StoreError(`User ${address} does not exist`);
    }
    const password = sub === "add" || sub === "passwd"
      ? await (values["password-stdin"] ? readPasswordFromStdin() : promptPassword())
      : "";
    switch (sub) {
      case "add":
        addUser(store, address, await hashPassword(password));
        console.log(`Added user ${address}`);
        break;
      case "passwd":
        setPasswordHash(store, address, await hashPassword(password));
        console.log(`Changed the password of ${address}`);
        break;
      case "del":
        removeUser(store, address);
        console.log(`Deleted user ${address} and their mail`);
        break;
      case "list":
        for (const u of listUsers(store)) {
          console.log(`${u.address}\t${u.messages} messages\t${u.bytes} bytes`);
        }
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}
