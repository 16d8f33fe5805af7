/**
 * Checks a user's credentials for every protocol: normalises the login name,
 * verifies the password in constant time, applies the shared
 * {@link LoginThrottle} and logs failures.
 */
import { AddressError, normalizeAddress } from "../address.ts";
import { log } from "../log.ts";
import { findUser, usersWithLocalPart } from "../store/accounts.ts";
import type { Store } from "../store/db.ts";
import { verifyNothing, verifyPassword } from "./password.ts";
import { LoginThrottle } from "./throttle.ts";

/** A successfully authenticated user. */
export interface AuthenticatedUser {
  id: number;
  address: string;
  /** May administer the server over HTTP. */
  admin: boolean;
}

/** Context of a login attempt, for throttling and logs. */
export interface LoginAttempt {
  username: string;
  password: string;
  remoteAddress: string;
  /** "smtp", "pop3", ... */
  protocol: string;
  connectionId: string;
}

const logger = log("auth");

/** Verifies credentials against the store, throttling failures. */
export class Authenticator {
  readonly #store: Store;
  readonly throttle: LoginThrottle;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Hears of every failed login (for the metrics), with the protocol. */
  onFailure?: (protocol: string) => void;

  constructor(store: Store, throttle = new LoginThrottle(), sleep = defaultSleep) {
    this.#store = store;
    this.throttle = throttle;
    this.#sleep = sleep;
  }

  /**
   * The account a login name means: the normalised address, or for a bare
   * name (`alice`, as many mail clients send) the one user with that local
   * part when there is exactly one.
   */
  #account(username: string): string {
    if (!username.includes("@")) {
      const matches = usersWithLocalPart(this.#store, username.toLowerCase());
      return matches.length === 1 ? matches[0] : username;
    }
    try {
      return normalizeAddress(username);
    } catch (err) {
      if (err instanceof AddressError) return username;
      throw err;
    }
  }

  /** The user when the credentials are right; undefined (after the throttle's delay) when not. */
  async login(attempt: LoginAttempt): Promise<AuthenticatedUser | undefined> {
    const account = this.#account(attempt.username.trim());
    const user = findUser(this.#store, account);
    const ok = user
      ? await verifyPassword(attempt.password, user.passwordHash)
      : await verifyNothing(attempt.password);
    if (ok && user) {
      this.throttle.recordSuccess(account);
      logger.info("{id} {protocol} login {user} from {remote}", {
        id: attempt.connectionId,
        protocol: attempt.protocol,
        user: user.address,
        remote: attempt.remoteAddress,
      });
      return { id: user.id, address: user.address, admin: user.admin };
    }
    await this.failed({ ...attempt, username: account });
    return undefined;
  }

  /**
   * Records a failed attempt that did not go through {@link login} (an
   * unknown API token), logs it, and holds the answer back as the throttle
   * says.
   */
  async failed(attempt: Omit<LoginAttempt, "password">): Promise<void> {
    const account = attempt.username;
    const failures = this.throttle.recordFailure(attempt.remoteAddress, account);
    const delay = this.throttle.delayFor(attempt.remoteAddress, account);
    this.onFailure?.(attempt.protocol);
    logger.warn(
      "{id} {protocol} failed login for {user} from {remote} (failure {failures}, delayed {delay} ms)",
      {
        id: attempt.connectionId,
        protocol: attempt.protocol,
        user: account,
        remote: attempt.remoteAddress,
        failures,
        delay,
      },
    );
    await this.#sleep(delay);
  }
}

/** Sleeps; tests pass a fake. */
function defaultSleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
