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
import { subscribe } from "../src/subscribe.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { address, eventType, list, provider, token } from "./options.js";

const env = process.env;
const { values: flags } = parseArgs({
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

const filter = {
  orderIds: list(flags["order-id"], env["HOOKLINE_ORDER_IDS"]),
  sessionKeys: list(flags["session-key"], env["HOOKLINE_SESSION_KEYS"]),
  eventTypes: list(flags["event-type"], env["HOOKLINE_EVENT_TYPES"]).map(eventType),
  providers: list(flags.provider, env["HOOKLINE_PROVIDERS"]).map(provider),
};
if (flags.from !== undefined && flags.from !== "earliest" && flags.from !== "latest") {
  throw new Error(`--from must be earliest or latest, not ${JSON.stringify(flags.from)}`);
}
const position = flags.from === "earliest" ? StartPosition.EARLIEST : StartPosition.LATEST;
const afterSequence = flags.after === undefined ? undefined : BigInt(flags.after);
const bookmarkIntervalMs = flags["bookmark-interval"] === undefined ? undefined : Number(flags["bookmark-interval"]) * 1000;

const conn = connect({ baseUrl: address(flags.addr, env), token: token(env) });
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());

let last: bigint | undefined = afterSequence;
process.stderr.write(`subscribing to ${conn.baseUrl}` + (last === undefined ? ` from ${flags.from ?? "latest"}\n` : ` after sequence ${last}\n`));
try {
  for await (const frame of subscribe(conn.client, {
    filter,
    afterSequence,
    position,
    bookmarkIntervalMs,
    signal: stop.signal,
    onRetry: ({ attempt, delayMs, error, cursor }) => {
      const reason = reasonOf(error);
      process.stderr.write(
        `stream broke (${Code[error.code]}${reason ? "/" + reason : ""}: ${error.rawMessage}); ` +
          `reconnect #${attempt} in ${delayMs} ms, resuming ${cursor === undefined ? "from the start" : "after sequence " + cursor}\n`,
      );
    },
  })) {
    last = frame.value.sequence;
    if (frame.case === "event") {
      process.stdout.write((flags.json ? toJsonString(EventSchema, frame.value) : describe(frame.value)) + "\n");
    } else {
      process.stderr.write(`bookmark sequence=${frame.value.sequence}\n`);
    }
  }
  process.stderr.write(`stopped; last sequence ${last ?? "none"}` + (last === undefined ? "\n" : ` (resume with --after ${last})\n`));
} catch (err) {
  if (err instanceof CursorExpiredError) {
    process.stderr.write(
      `CURSOR_EXPIRED: the gateway no longer holds the events after sequence ${err.cursor}; ` +
        `the earliest sequence it holds is ${err.earliestSequence}. ` +
        `Events in between are lost to this subscriber: rerun with --after ${err.earliestSequence - 1n} to continue from there.\n`,
    );
    process.exitCode = 2;
  } else if (err instanceof ConnectError) {
    const reason = reasonOf(err);
    process.stderr.write(`subscribe failed: ${Code[err.code]}${reason ? "/" + reason : ""}: ${err.rawMessage}\n`);
    process.exitCode = 1;
  } else {
    throw err;
  }
} finally {
  conn.close();
}

/** describe renders an event as one line. */
function describe(ev: Event): string {
  const time = ev.time ? timestampDate(ev.time).toISOString() : "-";
  return `seq=${ev.sequence} id=${ev.id} type=${EventType[ev.type]} provider=${Provider[ev.provider]} subject=${ev.subject} time=${time}`;
}
