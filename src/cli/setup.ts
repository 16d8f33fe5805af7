/**
 * `postino setup DOMAIN --hostname FQDN`: prepares a server for a domain in
 * one command and prints the DNS records to publish, the reverse DNS to ask
 * for, a systemd unit and what to run next.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { normalizeAddress, normalizeDomain } from "../address.ts";
import { loadConfig } from "../config.ts";
import { zoneLines } from "../dns/records_to_publish.ts";
import { setupDomain, type SetupResult } from "../setup/setup.ts";
import { openDataStore } from "./open_store.ts";
import { readPasswordFromStdin } from "./password_input.ts";
import { parseFlags, UsageError } from "./usage.ts";

const HELP = `Usage: postino setup DOMAIN --hostname FQDN [options]

Prepares this server for DOMAIN: records the domain and the host name, makes
its DKIM keys (Ed25519 and RSA 2048, both published; RSA signs), adds the
first admin with a generated password (shown once), and prints the DNS
records to publish as a zone-file snippet, the reverse DNS to ask your VPS
provider for, a systemd unit and the next command to run.

Run it once per domain; on a domain that is set up already it exits 1
('postino dns records DOMAIN' prints the records again).

Options:
  --hostname FQDN    this server's name: the MX target and the certificate's name
  --admin ADDRESS    the first admin (default postmaster@DOMAIN)
  --password-stdin   read the admin's password from standard input
  --ip IP            this server's public address (repeatable; default: the
                     public addresses of the network interfaces)
  --config FILE      write a config file here (when it does not exist yet)
  --data DIR         data directory (default $POSTINO_DATA, else ./data)
  -h, --help         show this help
`;

/** Runs `postino setup ...`; returns the exit status. */
export async function setupCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      help: { type: "boolean", short: "h" },
      data: { type: "string" },
      config: { type: "string" },
      hostname: { type: "string" },
      admin: { type: "string" },
      "password-stdin": { type: "boolean" },
      ip: { type: "string", multiple: true },
    },
    "setup",
    { min: 1, max: 1 },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.hostname) {
    throw new UsageError("Missing --hostname FQDN (see 'postino setup --help')");
  }
  const domain = normalizeDomain(positionals[0]);
  const hostname = normalizeDomain(values.hostname);
  const admin = values.admin === undefined ? undefined : normalizeAddress(values.admin);
  for (const ip of values.ip ?? []) {
    if (!isIP(ip)) throw new UsageError(`Invalid --ip '${ip}' (see 'postino setup --help')`);
  }
  // A config file named here is written when missing, else read like any command's.
  const writeConfigTo = values.config !== undefined && !exists(values.config)
    ? resolve(values.config)
    : undefined;
  const config = loadConfig({
    flags: { data: values.data, config: writeConfigTo ? undefined : values.config },
    systemHostname: () => hostname,
  });
  const password = values["password-stdin"] ? await readPasswordFromStdin() : undefined;
  Deno.mkdirSync(config.dataDir, { recursive: true });
  const store = openDataStore(config.dataDir);
  let result: SetupResult;
  try {
    result = await setupDomain(store, config, {
      domain,
      hostname,
      admin,
      password,
      ips: values.ip?.map((ip) => ip.toLowerCase()),
    });
  } finally {
    store.close();
  }
  if (writeConfigTo) {
    await Deno.writeTextFile(
      writeConfigTo,
      configFile(resolve(config.dataDir), hostname, result.admin),
      {
        createNew: true,
      },
    );
  }
  console.log(report(domain, hostname, result, resolve(config.dataDir), writeConfigTo));
  return 0;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A config file for production: standard listeners, certificates from Let's Encrypt. */
function configFile(dataDir: string, hostname: string, admin: string): string {
  return `# Written by postino setup. See the README for every setting.
data = "${dataDir}"
hostname = "${hostname}"

[tls]
acme = "letsencrypt"        # certificates for ${hostname} and its mta-sts/autoconfig names
acme_email = "${admin}"

[mta_sts]
mode = "testing"            # "enforce" once mail has flowed over TLS for a while
`;
}

/** What a person reads after setup: secrets once, records, PTR, unit, next step. */
function report(
  domain: string,
  hostname: string,
  r: SetupResult,
  dataDir: string,
  configPath: string | undefined,
): string {
  const lines: string[] = [];
  lines.push(`Set up ${domain} on ${hostname} (data in ${dataDir}).`, "");
  lines.push(`Admin: ${r.admin}`);
  if (r.generatedPassword) {
    lines.push(
      `Password: ${r.generatedPassword}   (shown only now; change it on the account page)`,
    );
  }
  lines.push(
    `DKIM keys: ${r.selectors.rsa} (RSA 2048, signs) and ${r.selectors.ed25519} (Ed25519)`,
  );
  if (configPath) lines.push(`Config file: ${configPath}`);
  lines.push("", `; DNS records for ${domain}: paste into your zone (or your provider's form).`);
  if (r.ips.length === 0) {
    lines.push(`; No public address found: add A/AAAA records for ${hostname} (or run with --ip).`);
  }
  lines.push(zoneLines(r.records).trimEnd());
  lines.push(
    `; DMARC starts at p=quarantine; when the reports show all your mail passing, move to p=reject.`,
    `; CAA (optional): only Let's Encrypt may issue for the domain:`,
    `; ${domain}. 3600 IN CAA 0 issue "letsencrypt.org"`,
    "",
  );
  if (r.ips.length > 0) {
    lines.push("Reverse DNS: ask your VPS provider to set the PTR record of");
    for (const ip of r.ips) lines.push(`  ${ip} -> ${hostname}`);
    lines.push("(receivers distrust mail from an address whose name does not match)", "");
  } else {
    lines.push(`Reverse DNS: ask your VPS provider to name your server's address ${hostname}.`, "");
  }
  const serve = `/usr/local/bin/postino serve --data ${dataDir}${
    configPath ? ` --config ${configPath}` : ` --hostname ${hostname}`
  }`;
  lines.push(
    "A systemd unit (/etc/systemd/system/postino.service):",
    "",
    "[Unit]",
    "Description=Postino mail server",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "User=postino",
    `ExecStart=${serve}`,
    "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "NoNewPrivileges=true",
    `ReadWritePaths=${dataDir}`,
    "Restart=on-failure",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
    "Next: publish the records, start the server (systemctl enable --now postino), then run",
    `  postino check ${domain} --data ${dataDir}`,
  );
  return lines.join("\n");
}
