/**
 * The openssl command in tests: make keys and certificates, and see which
 * certificate a listener serves (`s_client`, with STARTTLS when asked).
 */
import { X509Certificate } from "node:crypto";

const decoder = new TextDecoder();

/** Runs `openssl ...args` in `cwd`; resolves with stdout, throws with stderr when it fails. */
export async function openssl(cwd: string | undefined, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

/** The options of `openssl req` for a new ECDSA P-256 key without a passphrase. */
export const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * The certificate the listener on 127.0.0.1:`port` serves for `servername`,
 * as `openssl s_client` sees it (`starttls`: smtp, imap, pop3, ...); bounded
 * to 10 s.
 */
export async function servedCertificate(
  port: number,
  servername: string,
  starttls?: string,
): Promise<X509Certificate> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", servername];
  if (starttls) args.push("-starttls", starttls);
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  await child.stdin.close();
  const timer = setTimeout(() => child.kill(), 10_000);
  const { stdout } = await child.output();
  clearTimeout(timer);
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(
    decoder.decode(stdout),
  )?.[0];
  if (!pem) throw new Error(`no certificate from port ${port}`);
  return new X509Certificate(pem);
}
