// Unit tests of the resumable subscription, the error decoding and the
// bearer token interceptor, against a scripted fake EventService client.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EventSchema } from "../gen/hookline/v1/event_pb.js";
import {
  BookmarkSchema,
  StartPosition,
  type SubscribeRequest,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../gen/hookline/v1/event_service_pb.js";
import { bearerToken, normalizeAddress, type EventServiceClient } from "../src/client.js";
import { CursorExpiredError, cursorExpired, errorInfo, reasonOf } from "../src/errors.js";
import { backoffDelay, DEFAULT_BACKOFF, subscribe, type Frame, type RetryInfo } from "../src/subscribe.js";
import { eventType, grpcCode, list, provider } from "../examples/options.js";
import { EventType, Provider } from "../gen/hookline/v1/event_pb.js";

/**
 * The bytes the Go gateway sends for CURSOR_EXPIRED: errdetails.ErrorInfo
 * {reason: CURSOR_EXPIRED, domain: hookline.dev, metadata:
 * {earliest_sequence: 42, latest_sequence: 99}}, marshalled by
 * google.golang.org/protobuf (deterministic).
 */
const GO_CURSOR_EXPIRED_INFO = Buffer.from(
  "0a0e435552534f525f45585049524544120c686f6f6b6c696e652e6465761a170a116561726c696573745f73657175656e6365120234321a150a0f6c61746573745f73657175656e636512023939",
  "hex",
);

function withInfo(code: Code, bytes: Uint8Array): ConnectError {
  const err = new ConnectError("from the gateway", code);
  err.details.push({ type: "google.rpc.ErrorInfo", value: bytes });
  return err;
}

const event = (sequence: bigint): SubscribeResponse =>
  create(SubscribeResponseSchema, { frame: { case: "event", value: create(EventSchema, { sequence, id: `evt_${sequence}` }) } });
const bookmark = (sequence: bigint): SubscribeResponse =>
  create(SubscribeResponseSchema, { frame: { case: "bookmark", value: create(BookmarkSchema, { sequence }) } });

/** A stream the fake serves: frames, then an error (or a clean end). */
interface Script {
  frames: SubscribeResponse[];
  error?: ConnectError;
}

/** fake returns a client whose Subscribe calls play the scripts in turn. */
function fake(scripts: Script[]): { client: EventServiceClient; requests: SubscribeRequest[]; signals: AbortSignal[] } {
  const requests: SubscribeRequest[] = [];
  const signals: AbortSignal[] = [];
  const client = {
    subscribe(req: SubscribeRequest, opts: { signal: AbortSignal }): AsyncIterable<SubscribeResponse> {
      requests.push(req);
      signals.push(opts.signal);
      const script = scripts.shift();
      return (async function* () {
        if (script === undefined) {
          throw new Error("no more scripted streams");
        }
        yield* script.frames;
        if (script.error !== undefined) {
          throw script.error;
        }
      })();
    },
  } as unknown as EventServiceClient;
  return { client, requests, signals };
}

const fast = { initialMs: 1, maxMs: 4, multiplier: 2 };

async function collect(frames: AsyncIterable<Frame>): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const f of frames) {
    out.push(f.value.sequence);
  }
  return out;
}

test("subscribe resumes after the last event or bookmark it yielded", async () => {
  const { client, requests } = fake([
    { frames: [event(1n), event(2n), bookmark(5n)], error: new ConnectError("gone", Code.Unavailable) },
    { frames: [event(7n)] }, // a clean end is reconnected too
    { frames: [bookmark(9n)], error: new ConnectError("bad token", Code.Unauthenticated) },
  ]);
  const retries: RetryInfo[] = [];
  const seen: bigint[] = [];
  await assert.rejects(
    async () => {
      for await (const f of subscribe(client, { position: StartPosition.EARLIEST, backoff: fast, onRetry: (r) => retries.push(r) })) {
        seen.push(f.value.sequence);
      }
    },
    (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
  );
  assert.deepEqual(seen, [1n, 2n, 5n, 7n, 9n]);
  assert.deepEqual(
    requests.map((r) => r.start),
    [
      { case: "position", value: StartPosition.EARLIEST },
      { case: "afterSequence", value: 5n },
      { case: "afterSequence", value: 7n },
    ],
  );
  assert.deepEqual(
    retries.map((r) => [r.attempt, r.cursor, r.error.code]),
    [
      [1, 5n, Code.Unavailable],
      [1, 7n, Code.Unavailable],
    ],
  );
});

test("subscribe keeps the start until the first frame, then counts attempts until one arrives", async () => {
  const unavailable = () => new ConnectError("refused", Code.Unavailable);
  const { client, requests } = fake([
    { frames: [], error: unavailable() },
    { frames: [], error: unavailable() },
    { frames: [], error: unavailable() },
    { frames: [bookmark(3n)], error: unavailable() },
    { frames: [], error: new ConnectError("bad filter", Code.InvalidArgument) },
  ]);
  const retries: RetryInfo[] = [];
  const start = new Date("2026-01-02T03:04:05Z");
  await assert.rejects(collect(subscribe(client, { startTime: start, backoff: fast, onRetry: (r) => retries.push(r) })), /bad filter/);
  assert.deepEqual(
    requests.map((r) => r.start.case),
    ["startTime", "startTime", "startTime", "startTime", "afterSequence"],
  );
  assert.deepEqual(
    retries.map((r) => r.attempt),
    [1, 2, 3, 1],
  );
  for (const r of retries) {
    assert.ok(r.delayMs >= 0 && r.delayMs <= fast.maxMs, `delay ${r.delayMs} within the cap`);
  }
});

test("afterSequence starts the first request and is the cursor of CURSOR_EXPIRED", async () => {
  const { client, requests } = fake([{ frames: [], error: withInfo(Code.OutOfRange, GO_CURSOR_EXPIRED_INFO) }]);
  const retries: RetryInfo[] = [];
  await assert.rejects(collect(subscribe(client, { afterSequence: 7n, onRetry: (r) => retries.push(r) })), (err: unknown) => {
    assert.ok(err instanceof CursorExpiredError);
    assert.equal(err.cursor, 7n);
    assert.equal(err.earliestSequence, 42n);
    assert.match(err.message, /earliest retained sequence is 42/);
    return true;
  });
  assert.deepEqual(requests[0]!.start, { case: "afterSequence", value: 7n });
  assert.equal(retries.length, 0);
});

test("the signal ends a subscription quietly, also while it waits to reconnect", async () => {
  const stop = new AbortController();
  const { client } = fake([{ frames: [event(1n)], error: new ConnectError("gone", Code.Unavailable) }]);
  const seen = await collect(
    subscribe(client, {
      backoff: { initialMs: 3_600_000, maxMs: 3_600_000 }, // a wait only the abort can end
      onRetry: () => stop.abort(),
      signal: stop.signal,
    }),
  );
  assert.deepEqual(seen, [1n]);
});

test("leaving the loop cancels the call", async () => {
  const { client, signals } = fake([{ frames: [event(1n), event(2n)] }]);
  for await (const f of subscribe(client)) {
    assert.equal(f.value.sequence, 1n);
    break;
  }
  assert.equal(signals[0]!.aborted, true);
});

test("backoffDelay grows exponentially up to the cap, with full jitter", () => {
  const b = { initialMs: 100, maxMs: 1000, multiplier: 2 };
  const top = () => 1 - Number.EPSILON;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10, 1000].map((a) => backoffDelay(a, b, top)),
    [99, 199, 399, 799, 999, 999, 999],
  );
  assert.equal(backoffDelay(3, b, () => 0), 0);
  assert.equal(backoffDelay(3, b, () => 0.5), 200);
  for (let attempt = 1; attempt < 100; attempt++) {
    const d = backoffDelay(attempt, DEFAULT_BACKOFF);
    assert.ok(d >= 0 && d < DEFAULT_BACKOFF.maxMs, `attempt ${attempt}: ${d}`);
  }
});

test("errorInfo decodes the Go gateway's google.rpc.ErrorInfo bytes", () => {
  const err = withInfo(Code.OutOfRange, GO_CURSOR_EXPIRED_INFO);
  const info = errorInfo(err);
  assert.equal(info?.reason, "CURSOR_EXPIRED");
  assert.equal(info?.domain, "hookline.dev");
  assert.deepEqual({ ...info?.metadata }, { earliest_sequence: "42", latest_sequence: "99" });
  assert.equal(reasonOf(err), "CURSOR_EXPIRED");
  assert.equal(cursorExpired(err, 3n)?.earliestSequence, 42n);

  assert.equal(errorInfo(new Error("plain")), undefined);
  assert.equal(reasonOf(new ConnectError("no details", Code.Unavailable)), "");
  // Same bytes, another code: not the gateway's CURSOR_EXPIRED answer.
  assert.equal(cursorExpired(withInfo(Code.Unavailable, GO_CURSOR_EXPIRED_INFO), 3n), undefined);
  assert.equal(cursorExpired(new ConnectError("cursor ahead", Code.OutOfRange), 3n), undefined);
});

test("bearerToken sets the authorization header", async () => {
  const header = new Headers();
  const next = async (req: { header: Headers }) => req;
  const call = bearerToken("t0k")(next as never) as unknown as (req: { header: Headers }) => Promise<{ header: Headers }>;
  await call({ header });
  assert.equal(header.get("authorization"), "Bearer t0k");
});

test("addresses and command-line names", () => {
  assert.equal(normalizeAddress("127.0.0.1:9090"), "http://127.0.0.1:9090");
  assert.equal(normalizeAddress("https://gw:443"), "https://gw:443");
  assert.deepEqual(list(undefined, " a, ,b "), ["a", "b"]);
  assert.deepEqual(list(["x"], "a,b"), ["x"]);
  assert.equal(eventType("order_status_changed"), EventType.ORDER_STATUS_CHANGED);
  assert.equal(eventType("EVENT_TYPE_SESSION_COMPLETED"), EventType.SESSION_COMPLETED);
  assert.equal(provider("truv"), Provider.TRUV);
  assert.equal(provider("mastercard"), Provider.FINICITY);
  assert.throws(() => provider("unspecified"), /unknown Provider "unspecified"/);
  assert.throws(() => eventType("nope"), /one of: UNMAPPED, ORDER_CREATED/);
  assert.equal(grpcCode(Code.OutOfRange), "OUT_OF_RANGE");
  assert.equal(grpcCode(Code.Unavailable), "UNAVAILABLE");
});
