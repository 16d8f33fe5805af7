/**
 * Client account setup documents: Thunderbird autoconfig, Outlook
 * autodiscover (POX) and Apple configuration profiles. Pure functions; the
 * HTTP layer finds the address and the endpoints and serves what these give.
 *
 * Invariants: every value written into XML goes through `xmlEscape()`;
 * a listener that is not running never appears; implicit TLS is offered
 * before STARTTLS (RFC 8314 §3); no password is ever written.
 */
import { normalizeAddress } from "../address.ts";

/** Where the mail services of this server are reachable; a missing port means that listener is not running. */
export interface MailEndpoints {
  /** The host name clients connect to (it must match the TLS certificate). */
  hostname: string;
  /** IMAP over implicit TLS (RFC 8314 §3). */
  imaps?: number;
  /** IMAP with STARTTLS (RFC 9051 §6.2.1). */
  imap?: number;
  /** POP3 over implicit TLS (RFC 8314 §3). */
  pop3s?: number;
  /** POP3 with STLS (RFC 2595 §4). */
  pop3?: number;
  /** Message submission over implicit TLS (RFC 8314 §3). */
  submissions?: number;
  /** Message submission with STARTTLS (RFC 6409). */
  submission?: number;
}

/** A running listener a client may be told about. */
interface Service {
  protocol: "imap" | "pop3" | "smtp";
  port: number;
  /** Implicit TLS from the first byte, or STARTTLS after the greeting. */
  tls: "implicit" | "starttls";
}

/** Every listener clients may use, in the order they should prefer them. */
const SERVICES: {
  key: Exclude<keyof MailEndpoints, "hostname">;
  service: Omit<Service, "port">;
}[] = [
  { key: "imaps", service: { protocol: "imap", tls: "implicit" } },
  { key: "imap", service: { protocol: "imap", tls: "starttls" } },
  { key: "pop3s", service: { protocol: "pop3", tls: "implicit" } },
  { key: "pop3", service: { protocol: "pop3", tls: "starttls" } },
  { key: "submissions", service: { protocol: "smtp", tls: "implicit" } },
  { key: "submission", service: { protocol: "smtp", tls: "starttls" } },
];

/** The running listeners of `protocol`, implicit TLS first. */
function services(endpoints: MailEndpoints, protocol: Service["protocol"]): Service[] {
  return SERVICES.filter((s) => s.service.protocol === protocol && endpoints[s.key] !== undefined)
    .map((s) => ({ ...s.service, port: endpoints[s.key]! }));
}

// XML 1.0 §2.2 Char: anything else cannot be written, not even as a reference.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/**
 * Text made safe for XML character data and attribute values: the five
 * special characters as references, characters XML cannot carry as U+FFFD.
 */
function xmlEscape(value: string | number): string {
  return String(value).replace(NOT_XML_CHAR, "\uFFFD").replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

/** `<name>value</name>` with the value escaped. */
function element(name: string, value: string | number): string {
  return `<${name}>${xmlEscape(value)}</${name}>`;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

// Thunderbird autoconfig

/** The socketType of the Thunderbird config format for each TLS mode. */
const SOCKET_TYPE: Record<Service["tls"], string> = { implicit: "SSL", starttls: "STARTTLS" };

/** One incomingServer or outgoingServer element. */
function thunderbirdServer(kind: "incoming" | "outgoing", hostname: string, s: Service): string {
  return [
    `    <${kind}Server type="${s.protocol}">`,
    `      ${element("hostname", hostname)}`,
    `      ${element("port", s.port)}`,
    `      ${element("socketType", SOCKET_TYPE[s.tls])}`,
    `      ${element("username", "%EMAILADDRESS%")}`,
    `      ${element("authentication", "password-cleartext")}`,
    `    </${kind}Server>`,
  ].join("\n");
}

/**
 * Thunderbird autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat,
 * clientConfig version 1.1) for `domain`: one incomingServer per running
 * IMAP/POP3 listener (IMAP first, implicit TLS "SSL" before "STARTTLS"), one
 * outgoingServer per running submission listener (465 "SSL" first, then 587
 * "STARTTLS"). With no listener running the document lists no server, which
 * Thunderbird rejects; the caller may prefer a 404 then.
 */
export function thunderbirdConfig(
  domain: string,
  endpoints: MailEndpoints,
  options: {
    /** The provider name shown in the account wizard. @default domain */
    displayName?: string;
  } = {},
): string {
  const incoming = [...services(endpoints, "imap"), ...services(endpoints, "pop3")];
  const outgoing = services(endpoints, "smtp");
  return XML_DECLARATION + [
    '<clientConfig version="1.1">',
    `  <emailProvider id="${xmlEscape(domain)}">`,
    `    ${element("domain", domain)}`,
    `    ${element("displayName", options.displayName ?? domain)}`,
    `    ${element("displayShortName", options.displayName ?? domain)}`,
    ...incoming.map((s) => thunderbirdServer("incoming", endpoints.hostname, s)),
    ...outgoing.map((s) => thunderbirdServer("outgoing", endpoints.hostname, s)),
    "  </emailProvider>",
    "</clientConfig>",
    "",
  ].join("\n");
}

// Outlook autodiscover (POX), [MS-OXDSCLI]

const AUTODISCOVER_REQUEST_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const AUTODISCOVER_RESPONSE_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_RESPONSE_SCHEMA =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/** The largest autodiscover request body accepted, in UTF-16 code units; Outlook sends ~350. */
export const AUTODISCOVER_REQUEST_LIMIT = 8192;
/** Element nesting deeper than this is refused; a request needs 3. */
const MAX_DEPTH = 16;

/** An element of the small XML subset autodiscover requests use. */
interface XmlElement {
  /** The namespace name ("" for none). */
  ns: string;
  local: string;
  children: XmlElement[];
  /** The character data directly inside, references decoded. */
  text: string;
}

const XML_SPACE = /^[ \t\r\n]*$/;
const NAME = /[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?/y;
const ATTRIBUTE =
  /[ \t\r\n]+([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)[ \t\r\n]*=[ \t\r\n]*(?:"([^"<]*)"|'([^'<]*)')/y;
const TAG_END = /[ \t\r\n]*(\/?)>/y;
const END_TAG = /<\/([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)[ \t\r\n]*>/y;
const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the predefined and character references (XML 1.0 §4.1, §4.6); throws on any other. */
function decodeReferences(raw: string): string {
  return raw.replace(/&([^&;]*)(;?)/g, (_, ref: string, semi: string) => {
    if (semi && ref in PREDEFINED) return PREDEFINED[ref];
    const m = semi ? /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref) : null;
    const code = m ? parseInt(m[1] ?? m[2], m[1] ? 16 : 10) : -1;
    const char = code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : "";
    if (!char || char.replace(NOT_XML_CHAR, "") === "") {
      throw new SyntaxError(`Cannot decode XML reference: &${ref}${semi}`);
    }
    return char;
  });
}

/**
 * Parses a small, namespace-aware XML document. No DTD: any `<!` other than
 * a comment or CDATA section is refused, so no entity can be declared or
 * expanded. Throws SyntaxError on anything malformed.
 */
function parseXml(text: string): XmlElement {
  type Open = { element: XmlElement; qname: string; scope: Map<string, string> };
  const stack: Open[] = [];
  let root: XmlElement | undefined;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot parse XML at offset ${i}: ${why}`);
  };
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (stack.length > 0) stack[stack.length - 1].element.text += decodeReferences(chunk);
    else if (!XML_SPACE.test(chunk)) fail("text outside the root element");
    if (lt < 0) break;
    i = lt;
    if (text.startsWith("<?", i) || text.startsWith("<!--", i)) {
      const close = text.startsWith("<?", i) ? "?>" : "-->";
      const end = text.indexOf(close, i + 2);
      if (end < 0) fail("unterminated markup");
      i = end + close.length;
    } else if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i);
      if (end < 0 || stack.length === 0) fail("misplaced CDATA section");
      stack[stack.length - 1].element.text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith("<!", i)) {
      fail("declarations (DOCTYPE, ENTITY) are not accepted");
    } else if (text.startsWith("</", i)) {
      END_TAG.lastIndex = i;
      const m = END_TAG.exec(text);
      if (!m || stack.length === 0 || stack[stack.length - 1].qname !== m[1]) {
        fail("mismatched end tag");
      }
      stack.pop();
      i = END_TAG.lastIndex;
    } else {
      if (root && stack.length === 0) fail("a second root element");
      if (stack.length >= MAX_DEPTH) fail("elements nested too deeply");
      NAME.lastIndex = i + 1;
      const qname = NAME.exec(text)?.[0] ?? fail("bad element name");
      i = NAME.lastIndex;
      const scope = new Map(stack.length > 0 ? stack[stack.length - 1].scope : [["xml", ""]]);
      while (true) {
        ATTRIBUTE.lastIndex = i;
        const m = ATTRIBUTE.exec(text);
        if (!m) break;
        i = ATTRIBUTE.lastIndex;
        const [, name, dq, sq] = m;
        const value = decodeReferences(dq ?? sq);
        // Namespaces in XML 1.0 §3: xmlns and xmlns:prefix declare.
        if (name === "xmlns") scope.set("", value);
        else if (name.startsWith("xmlns:")) scope.set(name.slice(6), value);
      }
      TAG_END.lastIndex = i;
      const end = TAG_END.exec(text) ?? fail("bad start tag");
      i = TAG_END.lastIndex;
      const colon = qname.indexOf(":");
      const ns = scope.get(colon < 0 ? "" : qname.slice(0, colon)) ??
        (colon < 0 ? "" : fail("undeclared namespace prefix"));
      const element: XmlElement = { ns, local: qname.slice(colon + 1), children: [], text: "" };
      if (stack.length > 0) stack[stack.length - 1].element.children.push(element);
      else root = element;
      if (end[1] !== "/") stack.push({ element, qname, scope });
    }
  }
  if (!root || stack.length > 0) fail("unclosed element");
  return root!;
}

/** The only child of `parent` named `local` in the parent's namespace; null when none, undefined when several. */
function onlyChild(parent: XmlElement, local: string): XmlElement | null | undefined {
  const found = parent.children.filter((c) => c.local === local && c.ns === parent.ns);
  return found.length === 1 ? found[0] : found.length === 0 ? null : undefined;
}

/**
 * The EMailAddress of an Outlook autodiscover request body (POX schema
 * requestschema/2006, [MS-OXDSCLI]), normalised like the store keeps
 * it; undefined when the body is not such a request, asks for a response
 * schema other than outlook/responseschema/2006a, or has no valid address.
 * Built for hostile input: bodies over {@link AUTODISCOVER_REQUEST_LIMIT} and
 * any DOCTYPE or ENTITY declaration are refused, and nothing is expanded but
 * the five predefined entities and character references. Elements in no
 * namespace are accepted too, as some clients leave it out.
 */
export function parseAutodiscoverRequest(body: string): string | undefined {
  if (body.length > AUTODISCOVER_REQUEST_LIMIT) return undefined;
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch {
    return undefined;
  }
  if (root.local !== "Autodiscover") return undefined;
  if (root.ns !== AUTODISCOVER_REQUEST_NS && root.ns !== "") return undefined;
  const request = onlyChild(root, "Request");
  if (!request) return undefined;
  const address = onlyChild(request, "EMailAddress");
  if (!address || address.children.length > 0) return undefined;
  const schema = onlyChild(request, "AcceptableResponseSchema");
  if (schema === undefined || (schema && schema.text.trim() !== OUTLOOK_RESPONSE_SCHEMA)) {
    return undefined;
  }
  const text = address.text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  if (text.length > 254) return undefined; // RFC 5321 §4.5.3.1.3 path limit, less the brackets
  try {
    return normalizeAddress(text);
  } catch {
    return undefined;
  }
}

/** One Protocol element; SSL on with Encryption "SSL" is implicit TLS, "TLS" is STARTTLS. */
function outlookProtocol(type: string, hostname: string, address: string, s: Service): string {
  const lines = [
    element("Type", type),
    element("Server", hostname),
    element("Port", s.port),
    element("DomainRequired", "off"),
    element("LoginName", address),
    // SPA is Microsoft's NTLM login and defaults to on: turn it off.
    element("SPA", "off"),
    element("SSL", "on"),
    // [MS-OXDSCLI]: Encryption, when present, overrides SSL.
    element("Encryption", s.tls === "implicit" ? "SSL" : "TLS"),
    element("AuthRequired", "on"),
    ...(type === "SMTP" ? [element("UsePOPAuth", "off"), element("SMTPLast", "off")] : []),
  ];
  return ["      <Protocol>", ...lines.map((l) => `        ${l}`), "      </Protocol>"].join("\n");
}

/**
 * The Outlook autodiscover response (responseschema/2006 around outlook
 * responseschema/2006a): an email Account with Action settings and one
 * Protocol each for IMAP, POP3 and SMTP whose listener runs, preferring the
 * implicit-TLS port; the login name is the address.
 */
export function outlookAutodiscover(address: string, endpoints: MailEndpoints): string {
  const protocols = (["imap", "pop3", "smtp"] as const)
    .map((p) => services(endpoints, p)[0])
    .filter((s) => s !== undefined)
    .map((s) => outlookProtocol(s.protocol.toUpperCase(), endpoints.hostname, address, s));
  return XML_DECLARATION + [
    `<Autodiscover xmlns="${AUTODISCOVER_RESPONSE_NS}">`,
    `  <Response xmlns="${OUTLOOK_RESPONSE_SCHEMA}">`,
    "    <Account>",
    `      ${element("AccountType", "email")}`,
    `      ${element("Action", "settings")}`,
    ...protocols,
    "    </Account>",
    "  </Response>",
    "</Autodiscover>",
    "",
  ].join("\n");
}

// Apple configuration profile

/** A version-4-format UUID from the first 16 octets of SHA-256 over `parts` (RFC 9562 §5.4 layout). */
async function derivedUuid(...parts: string[]): Promise<string> {
  const data = new TextEncoder().encode(parts.join("\0"));
  const b = new Uint8Array(await crypto.subtle.digest("SHA-256", data)).slice(0, 16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`.toUpperCase();
}

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/** A plist value as XML lines, indented by `depth` tabs. */
function plist(value: PlistValue, depth: number): string[] {
  const pad = "\t".repeat(depth);
  if (typeof value === "string") return [`${pad}${element("string", value)}`];
  if (typeof value === "number") return [`${pad}${element("integer", Math.trunc(value))}`];
  if (typeof value === "boolean") return [`${pad}<${value}/>`];
  if (Array.isArray(value)) {
    return [`${pad}<array>`, ...value.flatMap((v) => plist(v, depth + 1)), `${pad}</array>`];
  }
  return [
    `${pad}<dict>`,
    ...Object.entries(value).flatMap(([k, v]) => [
      `${pad}\t${element("key", k)}`,
      ...plist(v, depth + 1),
    ]),
    `${pad}</dict>`,
  ];
}

/** The host name's labels reversed, for reverse-DNS payload identifiers. */
function reverseDns(hostname: string): string {
  return hostname.replace(/\.$/, "").split(".").reverse().join(".");
}

/**
 * An Apple configuration profile (.mobileconfig, unsigned XML plist) with one
 * com.apple.mail.managed payload for `address`: IMAP (POP when no IMAP
 * listener runs) and submission, implicit-TLS ports preferred, password
 * authentication with the address as user name; no password is included, so
 * the device asks for it. Identifiers and UUIDs are derived from the address
 * and host name, so a new download replaces the profile installed before.
 * Throws an Error when no IMAP/POP3 or no submission listener runs, as the
 * payload cannot leave either out.
 */
export async function appleMobileconfig(
  address: string,
  endpoints: MailEndpoints,
  options: {
    /** The account's description in Mail and Settings. @default the address's domain */
    displayName?: string;
  } = {},
): Promise<string> {
  const incoming = services(endpoints, "imap")[0] ?? services(endpoints, "pop3")[0];
  const outgoing = services(endpoints, "smtp")[0];
  if (!incoming || !outgoing) {
    throw new Error(
      `Cannot make a mobileconfig for ${address}: no ${
        incoming ? "submission" : "IMAP or POP3"
      } listener`,
    );
  }
  const hostname = endpoints.hostname;
  const description = options.displayName ?? address.slice(address.lastIndexOf("@") + 1);
  const identifier = `${reverseDns(hostname)}.postino.mail.${
    (await derivedUuid("postino-id", address, hostname)).toLowerCase()
  }`;
  const account: PlistValue = {
    EmailAccountDescription: description,
    EmailAccountType: incoming.protocol === "imap" ? "EmailTypeIMAP" : "EmailTypePOP",
    EmailAddress: address,
    IncomingMailServerAuthentication: "EmailAuthPassword",
    IncomingMailServerHostName: hostname,
    IncomingMailServerPortNumber: incoming.port,
    // Both TLS modes are "SSL" to Mail; on a STARTTLS port it upgrades.
    IncomingMailServerUseSSL: true,
    IncomingMailServerUsername: address,
    OutgoingMailServerAuthentication: "EmailAuthPassword",
    OutgoingMailServerHostName: hostname,
    OutgoingMailServerPortNumber: outgoing.port,
    OutgoingMailServerUseSSL: true,
    OutgoingMailServerUsername: address,
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: `Mail account ${address}`,
    PayloadDisplayName: description,
    PayloadIdentifier: `${identifier}.account`,
    PayloadType: "com.apple.mail.managed",
    PayloadUUID: await derivedUuid("postino-payload", address, hostname),
    PayloadVersion: 1,
  };
  const profile: PlistValue = {
    PayloadContent: [account],
    PayloadDescription: `Sets up the mail account ${address} on ${hostname}`,
    PayloadDisplayName: `${description} (${address})`,
    PayloadIdentifier: identifier,
    PayloadRemovalDisallowed: false,
    PayloadType: "Configuration",
    PayloadUUID: await derivedUuid("postino-profile", address, hostname),
    PayloadVersion: 1,
  };
  return XML_DECLARATION +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0">\n' + plist(profile, 0).join("\n") + "\n</plist>\n";
}
