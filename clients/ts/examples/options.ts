// Settings shared by the examples: where the gateway is, the token, and
// the names of enum values on the command line.

import type { DescEnum } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { EventTypeSchema, ProviderSchema, type EventType, type Provider } from "../gen/hookline/v1/event_pb.js";
import { DEFAULT_ADDRESS, normalizeAddress } from "../src/client.js";

/** The gateway address: the --addr flag, else HOOKLINE_ADDR, else DEFAULT_ADDRESS. */
export function address(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return normalizeAddress(flag || env["HOOKLINE_ADDR"] || DEFAULT_ADDRESS);
}

/** The read API token from HOOKLINE_TOKEN; undefined when unset or empty. */
export function token(env: NodeJS.ProcessEnv): string | undefined {
  return env["HOOKLINE_TOKEN"] || undefined;
}

/**
 * list merges repeated flag values with a comma-separated environment
 * variable: flags win when given.
 */
export function list(flags: string[] | undefined, envValue: string | undefined): string[] {
  const values = flags !== undefined && flags.length > 0 ? flags : (envValue ?? "").split(",");
  return values.map((v) => v.trim()).filter((v) => v !== "");
}

/** eventType parses `ORDER_STATUS_CHANGED` or `EVENT_TYPE_ORDER_STATUS_CHANGED` (any case). */
export function eventType(name: string): EventType {
  return enumValue(EventTypeSchema, name, {}) as EventType;
}

/** provider parses `truv`, `PROVIDER_TRUV`, … (`mastercard` is Finicity). */
export function provider(name: string): Provider {
  return enumValue(ProviderSchema, name, { MASTERCARD: "FINICITY" }) as Provider;
}

function enumValue(schema: DescEnum, name: string, aliases: Record<string, string>): number {
  let upper = name.trim().toUpperCase();
  upper = aliases[upper] ?? upper;
  const v = schema.values.find((v) => v.number !== 0 && (v.name === upper || v.localName === upper));
  if (v === undefined) {
    const names = schema.values.filter((v) => v.number !== 0).map((v) => v.localName);
    throw new Error(`unknown ${schema.name} ${JSON.stringify(name)}; one of: ${names.join(", ")}`);
  }
  return v.number;
}

/** grpcCode names a code as gRPC does: `UNAVAILABLE`, `OUT_OF_RANGE`, … */
export function grpcCode(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
