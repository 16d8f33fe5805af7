/** /api/v1/users: list, add and delete users, set a password, make an admin. */
import { connectionId } from "../../net/listener.ts";
import { normalizeAddress } from "../../address.ts";
import { hashPassword, passwordProblem, verifyPassword } from "../../auth/password.ts";
import {
  addUser,
  findUser,
  listUsers,
  removeUser,
  setAdmin,
  setPasswordHash,
} from "../../store/accounts.ts";
import { ApiError, withField } from "../errors.ts";
import { json, noContent, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

const user = s.object({
  address: s.string("The user's address, which is also the login name"),
  admin: s.boolean("May administer the server"),
  messages: s.integer("Messages stored in all the user's mailboxes"),
  bytes: s.integer("Bytes stored in all the user's mailboxes"),
  createdAt: s.string("When the user was added (ISO 8601)", { format: "date-time" }),
  sending: s.object({
    messages: s.integer("Messages the user sent in the last hour (submission and the send API)"),
    recipients: s.integer("Recipients of those messages"),
    messagesLimit: s.integer("`[limits] send_per_hour` (0: no limit)"),
    recipientsLimit: s.integer("`[limits] recipients_per_hour` (0: no limit)"),
    limitedAt: {
      type: ["string", "null"],
      format: "date-time",
      description: "When a limit last refused the user, within the last hour; else null",
    },
    limitedBy: {
      type: ["string", "null"],
      description: 'Which limit that was: "messages" or "recipients"; else null',
    },
  }),
});
const password = s.string("The new password (1 to 1024 bytes, no line breaks)", {
  minLength: 1,
  format: "password",
});
const addressParam = { address: "The user's address" };

/** A password the mail protocols can carry, else a 422 naming the field. */
export function checkedPassword(value: string, field = "password"): string {
  const problem = passwordProblem(value);
  if (problem) throw new ApiError(422, problem, field);
  return value;
}

/** An address from a request, normalised; a 422 naming `field` when it is not one. */
export function addressFrom(value: string, field: string): string {
  try {
    return normalizeAddress(value);
  } catch (err) {
    throw new ApiError(422, (err as Error).message, field);
  }
}

export const userRoutes = [
  {
    method: "GET",
    path: "/api/v1/users",
    summary: "List users",
    tag: "users",
    access: "admin",
    responses: { 200: { description: "Every user, by address", schema: s.array(user) } },
    handle: ({ services }) =>
      json(
        listUsers(services.store).map((u) => {
          const { refused, ...sending } = services.sendLimits.usage(u.address);
          return {
            ...u,
            createdAt: u.createdAt.toISOString(),
            sending: {
              ...sending,
              limitedAt: refused ? new Date(refused.at).toISOString() : null,
              limitedBy: refused?.limit ?? null,
            },
          };
        }),
      ),
  } satisfies RouteSpec,
  {
    method: "POST",
    path: "/api/v1/users",
    summary: "Add a user",
    description: "The domain must be local. The first user ever added is an admin.",
    tag: "users",
    access: "admin",
    body: s.object({
      address: s.string("The new user's address", { minLength: 1, maxLength: 320 }),
      password,
      admin: s.boolean("Make the user an admin (default false)"),
    }, ["address", "password"]),
    responses: {
      201: {
        description: "Added",
        schema: s.object({ address: s.string("The address as stored"), admin: s.boolean("") }),
      },
    },
    handle: async ({ body, services }) => {
      const address = addressFrom(body.address, "address");
      const hash = await hashPassword(checkedPassword(body.password));
      const admin = withField(
        "address",
        () => addUser(services.store, address, hash, { admin: body.admin }),
      );
      return json({ address, admin }, 201, { Location: `/api/v1/users/${address}` });
    },
  } satisfies RouteSpec<{ address: string; password: string; admin?: boolean }>,
  {
    method: "DELETE",
    path: "/api/v1/users/{address}",
    summary: "Delete a user and all their mail",
    tag: "users",
    access: "admin",
    params: addressParam,
    responses: { 204: { description: "Deleted" } },
    handle: ({ params, services }) => {
      removeUser(services.store, addressFrom(params.address, "address"));
      return noContent();
    },
  } satisfies RouteSpec,
  {
    method: "PUT",
    path: "/api/v1/users/{address}/password",
    summary: "Set a user's password",
    description: "An admin may set anyone's; a user their own. Open web sessions of the user " +
      "end. Changing your own password from a web session needs currentPassword too.",
    tag: "users",
    access: "user",
    params: addressParam,
    body: s.object({
      password,
      currentPassword: s.string("Your present password (web session, own password)", {
        format: "password",
      }),
    }, ["password"]),
    responses: { 204: { description: "Changed" } },
    handle: async ({ params, body, principal, services, env }) => {
      const address = addressFrom(params.address, "address");
      if (!principal.admin && principal.user?.address !== address) {
        throw new ApiError(403, "You may change only your own password");
      }
      const record = findUser(services.store, address);
      if (!record) throw new ApiError(404, `User ${address} does not exist`);
      // A stolen session cookie must not be enough to take the account over for good.
      if (principal.via === "session" && principal.user?.address === address) {
        const current = body.currentPassword ?? "";
        if (!await verifyPassword(current, record.passwordHash)) {
          await services.authenticator.failed({
            username: address,
            remoteAddress: env.remoteAddr,
            protocol: "http",
            connectionId: connectionId(),
          });
          throw new ApiError(403, "The current password is wrong", "currentPassword");
        }
      }
      setPasswordHash(services.store, address, await hashPassword(checkedPassword(body.password)));
      return noContent();
    },
  } satisfies RouteSpec<{ password: string; currentPassword?: string }>,
  {
    method: "PUT",
    path: "/api/v1/users/{address}/admin",
    summary: "Make a user an admin, or not",
    tag: "users",
    access: "admin",
    params: addressParam,
    body: s.object({ admin: s.boolean("true to make the user an admin, false to stop") }),
    responses: { 204: { description: "Changed" } },
    handle: ({ params, body, services }) => {
      setAdmin(services.store, addressFrom(params.address, "address"), body.admin);
      return noContent();
    },
  } satisfies RouteSpec<{ admin: boolean }>,
];
