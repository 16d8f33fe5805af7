/** `postino user add|passwd|del|admin|quota|list`: manage the accounts that receive and send mail. */
import { normalizeAddress } from "../address.ts";
import { hashPassword } from "../auth/password.ts";
import {
  addUser,
  checkCanAddUser,
  findUser,
  listUsers,
  removeUser,
  setAdmin,
  setPasswordHash,
} from "../store/accounts.ts";
import { parseSize } from "../config.ts";
import { StoreError } from "../store/db.ts";
import { setUserQuota } from "../store/quota.ts";
import { openCommandStore } from "./open_store.ts";
import { promptPassword, readPasswordFromStdin } from "./password_input.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino user add ADDRESS [--password-stdin] [--admin]
                                      add a user (its domain must be local)
  postino user passwd ADDRESS [--password-stdin]
                                      set a user's password
  postino user del ADDRESS            delete a user and all their mail
  postino user admin ADDRESS on|off   let the user administer the server over HTTP, or not
  postino user quota ADDRESS SIZE|none|default
                                      set a user's storage quota (K, M, G: powers of
                                      1024); none: no limit; default: [limits] quota
  postino user list                   list users: address, messages, bytes stored, and
                                      "admin" for admins

Without --password-stdin the password is asked on the terminal, twice.
The first user ever added is an admin.

Options:
  --password-stdin  read the password from standard input (one line)
  --admin           add: make the new user an admin
  --data DIR        data directory (default $POSTINO_DATA, else ./data)
  --config FILE     config file
  -h, --help        show this help
`;

const ONE = { min: 1, max: 1 };
const GROUP = {
  name: "user",
  help: HELP,
  arity: {
    add: ONE,
    passwd: ONE,
    del: ONE,
    admin: { min: 2, max: 2 },
    quota: { min: 2, max: 2 },
    list: { min: 0, max: 0 },
  },
};

/** Runs `postino user ...`; returns the exit status. */
export async function userCommand(args: string[]): Promise<number> {
  const flags = {
    ...COMMON_FLAGS,
    "password-stdin": { type: "boolean" },
    admin: { type: "boolean" },
  } as const;
  const parsed = parseSubcommand(args, GROUP, flags);
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  if (values["password-stdin"] && sub !== "add" && sub !== "passwd") {
    throw new UsageError(`Option --password-stdin is for add and passwd only`);
  }
  if (values.admin && sub !== "add") throw new UsageError("Option --admin is for add only");
  const onOff = sub === "admin" ? parseOnOff(positionals[1]) : false;
  const quota = sub === "quota" ? parseQuota(positionals[1]) : "default";
  const address = positionals[0] === undefined ? "" : normalizeAddress(positionals[0]);
  const store = openCommandStore(values);
  try {
    // Check what can be checked before asking for a password nobody will use.
    if (sub === "add") checkCanAddUser(store, address);
    if (sub === "passwd" && !findUser(store, address)) {
      throw new StoreError(`User ${address} does not exist`, "not_found");
    }
    const password = sub === "add" || sub === "passwd"
      ? await (values["password-stdin"] ? readPasswordFromStdin() : promptPassword())
      : "";
    switch (sub) {
      case "add": {
        // The line stays the same for admins (scripts match it); 'user list' shows who is one.
        addUser(store, address, await hashPassword(password), { admin: values.admin });
        console.log(`Added user ${address}`);
        break;
      }
      case "admin":
        setAdmin(store, address, onOff);
        console.log(`${address} is ${onOff ? "now an admin" : "no longer an admin"}`);
        break;
      case "quota":
        if (!setUserQuota(store, address, quota)) {
          throw new StoreError(`User ${address} does not exist`, "not_found");
        }
        console.log(
          quota === "none"
            ? `${address} has no quota now`
            : quota === "default"
            ? `${address} has the default quota now`
            : `The quota of ${address} is ${quota} bytes now`,
        );
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
          const admin = u.admin ? "\tadmin" : "";
          console.log(`${u.address}\t${u.messages} messages\t${u.bytes} bytes${admin}`);
        }
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}

function parseOnOff(value: string): boolean {
  if (value === "on") return true;
  if (value === "off") return false;
  throw new UsageError(`Expected on or off, not '${value}' (see 'postino user --help')`);
}

function parseQuota(value: string): number | "none" | "default" {
  if (value === "none" || value === "default") return value;
  const bytes = parseSize(value);
  if (bytes === undefined) {
    throw new UsageError(
      `Expected a size such as 2G, none or default, not '${value}' (see 'postino user --help')`,
    );
  }
  return bytes;
}
