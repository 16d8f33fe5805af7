/// <reference lib="deno.worker" />
/**
 * The thread that runs the authentication checks of inbound mail (SPF, DKIM,
 * DMARC, ARC via mailauth), so that their CPU time and mailauth's memory stay
 * off the event loop that serves the sessions. It keeps its own DNS client
 * and cache.
 *
 * Messages: {type:"init",servers} once; {type:"check",id,message,options} ->
 * {type:"done",id,result} | {type:"failed",id,error}; {type:"gc"} collects garbage.
 */
import { type NameServer, Resolver } from "../dns/resolver.ts";
import { collectGarbage } from "../net/memory_guard.ts";
import { checkInbound, type InboundAuthOptions } from "./inbound_auth.ts";

let resolver: Resolver | undefined;

self.onmessage = async (event: MessageEvent) => {
  const msg = event.data;
  if (msg.type === "init") {
    resolver = new Resolver({ servers: msg.servers as NameServer[] | undefined, cache: true });
    return;
  }
  if (msg.type === "gc") return collectGarbage();
  if (msg.type !== "check") return;
  try {
    const options = { ...msg.options, resolver: resolver! } as InboundAuthOptions;
    const result = await checkInbound(msg.message as Uint8Array, options);
    self.postMessage({ type: "done", id: msg.id, result });
  } catch (err) {
    self.postMessage({
      type: "failed",
      id: msg.id,
      error: (err as Error)?.stack ?? String(err),
    });
  }
};
