// Example: follow the gateway's event stream, resuming across restarts.
//
//   HOOKLINE_TOKEN=… node dist/examples/subscribe.js [--addr URL] [--from earliest|latest] [--after N]
//     [--order-id ID]… [--session-key KEY]… [--event-type TYPE]… [--provider NAME]…
//     [--bookmark-interval SECONDS] [--json]
//
// Filters may also come from HOOKLINE_ORDER_IDS, HOOKLINE_SESSION_KEYS,
// HOOKLINE_EVENT_TYPES and HOOKLINE_PROVIDERS (comma-separated); the address
// from HOOKLINE_ADDR. Events go to stdout, one line each; bookmarks,
// reconnects and errors to stderr. Exit status: 0 after SIGINT/SIGTERM,
// 2 when the cursor expired, 1 on any other error.

import { toJsonString } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { parseArgs } from "node:util";
import { EventSchema, EventType, Provider, type Event } from "../gen/hookline/v1/event_pb.js";
import { StartPosition } from "../gen/hookline/v1/event_service_pb.js";
import { connect } from "../src/client.js";
import { CursorExpiredError, reasonOf } from "../src/errors.js";
import { subscribe, type SubscribeOptions } from "../src/subscribe.js";
import { ConnectError } from "@connectrpc/connect";
import { address, eventType, grpcCode, list, provider, token } from "./options.js";

const USAGE = `usage: subscribe [--addr URL] [--from earliest|latest] [--after N]
  [--order-id ID]... [--session-key KEY]... [--event-type TYPE]... [--provider NAME]...
  [--bookmark-interval SECONDS] [--json]`;

/** Settings parses the command line and environment, or throws with what is wrong. */
function settings(argv: string[], env: NodeJS.ProcessEnv) {
  const { values: flags } = parseArgs({
    args: argv,
    options: {
      addr: { type: "string" },
      from: { type: "string" },
      after: { type: "string" },
      "order-id": { type: "string", multiple: true },
      "session-key": { type: "string", multiple: true },
      "event-type": { type: "string", multiple: true },
      provider: { type: "string", multiple: true },
      "bookmark-interval": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (flags.from !== undefined && flags.from !== "earliest" && flags.from !== "latest") {
    throw new Error(`--from must be earliest or latest, not ${JSON.stringify(flags.from)}`);
  }
  if (flags.after !== undefined && !/^[0-9]+$/.test(flags.after)) {
    throw new Error(`--after must be a sequence number, not ${JSON.stringify(flags.after)}`);
  }
  const bookmarkSeconds = flags["bookmark-interval"] === undefined ? undefined : Number(flags["bookmark-interval"]);
  if (bookmarkSeconds !== undefined && !(bookmarkSeconds > 0)) {
    throw new Error(`--bookmark-interval must be a positive number of seconds`);
  }
  return {
    baseUrl: address(flags.addr, env),
    token: token(env),
    json: flags.json,
    from: flags.from ?? "latest",
    options: {
      filter: {
        orderIds: list(flags["order-id"], env["HOOKLINE_ORDER_IDS"]),
        sessionKeys: list(flags["session-key"], env["HOOKLINE_SESSION_KEYS"]),
        eventTypes: list(flags["event-type"], env["HOOKLINE_EVENT_TYPES"]).map(eventType),
        providers: list(flags.provider, env["HOOKLINE_PROVIDERS"]).map(provider),
      },
      afterSequence: flags.after === undefined ? undefined : BigInt(flags.after),
      position: flags.from === "earliest" ? StartPosition.EARLIEST : StartPosition.LATEST,
      bookmarkIntervalMs: bookmarkSeconds === undefined ? undefined : bookmarkSeconds * 1000,
    } satisfies SubscribeOptions,
  };
}

/** main runs the subscription and returns the exit status. */
async function main(): Promise<number> {
  let s: ReturnType<typeof settings>;
  try {
    s = settings(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 1;
  }
  const conn = connect({ baseUrl: s.baseUrl, token: s.token });
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());

  let last = s.options.afterSequence;
  process.stderr.write(`subscribing to ${conn.baseUrl} ` + (last === undefined ? `from ${s.from}\n` : `after sequence ${last}\n`));
  try {
    for await (const frame of subscribe(conn.client, {
      ...s.options,
      signal: stop.signal,
      onRetry: ({ attempt, delayMs, error, cursor }) => {
        process.stderr.write(
          `stream broke (${codeAndReason(error)}: ${error.rawMessage}); reconnect #${attempt} in ${delayMs} ms, ` +
            `resuming ${cursor === undefined ? "from the start" : "after sequence " + cursor}\n`,
        );
      },
    })) {
      last = frame.value.sequence;
      if (frame.case === "event") {
        process.stdout.write((s.json ? toJsonString(EventSchema, frame.value) : describe(frame.value)) + "\n");
      } else {
        process.stderr.write(`bookmark sequence=${frame.value.sequence}\n`);
      }
    }
    process.stderr.write(`stopped; last sequence ${last ?? "none"}` + (last === undefined ? "\n" : ` (resume with --after ${last})\n`));
    return 0;
  } catch (err) {
    if (err instanceof CursorExpiredError) {
      process.stderr.write(
        `CURSOR_EXPIRED: the gateway no longer holds the events after sequence ${err.cursor}; ` +
          `the earliest sequence it holds is ${err.earliestSequence}. Events in between are lost to this ` +
          `subscriber: rerun with --after ${err.earliestSequence - 1n} to continue from there.\n`,
      );
      return 2;
    }
    if (err instanceof ConnectError) {
      process.stderr.write(`subscribe failed: ${codeAndReason(err)}: ${err.rawMessage}\n`);
      return 1;
    }
    throw err;
  } finally {
    conn.close();
  }
}

/** codeAndReason renders an error as `UNAVAILABLE/SHUTTING_DOWN`. */
function codeAndReason(err: ConnectError): string {
  const reason = reasonOf(err);
  return grpcCode(err.code) + (reason ? "/" + reason : "");
}

/** describe renders an event as one line. */
function describe(ev: Event): string {
  const time = ev.time ? timestampDate(ev.time).toISOString() : "-";
  return `seq=${ev.sequence} id=${ev.id} type=${EventType[ev.type]} provider=${Provider[ev.provider]} subject=${ev.subject} time=${time}`;
}

process.exitCode = await main();
