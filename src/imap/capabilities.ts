/**
 * The capabilities a session advertises (RFC 9051 §6.1.1, §7.2.2), in the
 * greeting, in CAPABILITY and after LOGIN: before authentication only what a
 * client needs to log in, afterwards every extension Postino offers.
 */

/** What the capability list depends on. */
export interface CapabilityOptions {
  /** The client has logged in. */
  authenticated: boolean;
  /** STARTTLS is possible: TLS is configured but not active yet. */
  startTls: boolean;
  /** Credentials may be sent (over TLS or from loopback); LOGINDISABLED otherwise. */
  credentialsAllowed: boolean;
  /** The largest message APPEND takes (APPENDLIMIT, RFC 7889). */
  appendLimit: number;
}

/** The capabilities, space-separated. */
export function capabilities(options: CapabilityOptions): string {
  const caps = [
    "IMAP4rev2",
    "IMAP4rev1",
    "LITERAL+",
    "ENABLE",
    "ID",
    "IDLE",
    "NAMESPACE",
    "SASL-IR",
  ];
  if (!options.authenticated) {
    if (options.startTls) caps.push("STARTTLS");
    if (options.credentialsAllowed) caps.push("AUTH=PLAIN");
    else caps.push("LOGINDISABLED");
  } else {
    caps.push(
      "MOVE",
      "BINARY",
      "UIDPLUS",
      "SPECIAL-USE",
      "UNSELECT",
      "CHILDREN",
      "LIST-EXTENDED",
      "LIST-STATUS",
      "ESEARCH",
      "SEARCHRES",
      "STATUS=SIZE",
      `APPENDLIMIT=${options.appendLimit}`,
      "CONDSTORE",
      "QRESYNC",
      // RFC 9208: GETQUOTA/GETQUOTAROOT with STORAGE and MESSAGE; no QUOTASET (SETQUOTA is refused).
      "QUOTA",
      "QUOTA=RES-STORAGE",
      "QUOTA=RES-MESSAGE",
    );
  }
  return caps.join(" ");
}
