/**
 * SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, both
 * with an optional initial response. The session offers and accepts AUTH only
 * over TLS; this file runs the exchange once the session allows it.
 */
import type { AuthenticatedUser } from "../auth/authenticator.ts";
import {
  decodeLoginResponse,
  encodeChallenge,
  isCancel,
  parsePlainResponse,
  SaslError,
} from "../auth/sasl.ts";
import type { Connection } from "../net/connection.ts";
import { parseAuthArgs } from "./parse.ts";
import { reply, type SmtpReply, SmtpReplyError } from "./reply.ts";

/** The mechanisms we offer, in EHLO order. */
export const AUTH_MECHANISMS = ["PLAIN", "LOGIN"];

/** RFC 4954 §4: a server must accept AUTH lines of at least 12288 octets. */
const MAX_AUTH_LINE = 12_288;

/** Checks a user name and password; undefined when they are wrong. */
export type LoginFn = (
  username: string,
  password: string,
) => Promise<AuthenticatedUser | undefined>;

/** Runs one AUTH command; the reply says how it ended, with the user on success. */
export async function authExchange(
  conn: Connection,
  args: string,
  login: LoginFn,
): Promise<{ reply: SmtpReply; user?: AuthenticatedUser }> {
  try {
    const { mechanism, initialResponse } = parseAuthArgs(args);
    let username: string;
    let password: string;
    if (mechanism === "PLAIN") {
      const plain = parsePlainResponse(initialResponse ?? await challenge(conn, ""));
      // We do not let one user act for another (RFC 4616 §2 authorization identity).
      if (plain.authzid !== "" && plain.authzid !== plain.authcid) {
        return { reply: reply(535, "5.7.8", "Authorization identity not allowed") };
      }
      ({ authcid: username, password } = plain);
    } else if (mechanism === "LOGIN") {
      username = decodeLoginResponse(initialResponse ?? await challenge(conn, "Username:"));
      password = decodeLoginResponse(await challenge(conn, "Password:"));
    } else {
      return { reply: reply(504, "5.5.4", `Unrecognized authentication mechanism ${mechanism}`) };
    }
    const user = await login(username, password);
    return user
      ? { reply: reply(235, "2.7.0", "Authentication successful"), user }
      : { reply: reply(535, "5.7.8", "Authentication credentials invalid") };
  } catch (err) {
    if (err instanceof SmtpReplyError) return { reply: err.reply };
    if (err instanceof SaslError) {
      return { reply: reply(501, "5.5.2", `Cannot decode response: ${err.reason}`) };
    }
    throw err;
  }
}

/** Sends a 334 challenge and returns the client's response line. */
async function challenge(conn: Connection, text: string): Promise<string> {
  await conn.write(`334 ${encodeChallenge(text)}\r\n`);
  const line = await conn.readLine(MAX_AUTH_LINE);
  if (line === null) throw new SmtpReplyError(421, "4.4.2", "Connection closed during AUTH");
  if (line.tooLong) {
    throw new SmtpReplyError(500, "5.5.6", "Authentication exchange line is too long");
  }
  const text2 = new TextDecoder().decode(line.bytes);
  if (isCancel(text2)) throw new SmtpReplyError(501, "5.0.0", "Authentication cancelled");
  return text2.trim();
}
