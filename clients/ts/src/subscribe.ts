// A resumable subscription: Subscribe, and when the stream breaks, subscribe
// again after the last sequence seen.
//
// The gateway guarantees (docs/api.md, "Guarantees") that one stream delivers
// matching events in log order without gaps or duplicates, that a bookmark
// with sequence N means every matching event up to N was delivered, and
// that resuming with after_sequence = the last sequence seen yields exactly
// the missed events. This helper relies on exactly that: it remembers the
// highest sequence of every event and bookmark it hands to the caller and
// resumes after it, so across reconnects the caller sees each matching event
// once, in order. It never skips: when the gateway no longer holds the
// events after the cursor (CURSOR_EXPIRED) it throws CursorExpiredError.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTimeout as sleep } from "node:timers/promises";
import type { Event } from "../gen/hookline/v1/event_pb.js";
import {
  type Bookmark,
  type EventFilterSchema,
  type StartPosition,
  type SubscribeRequest,
  SubscribeRequestSchema,
} from "../gen/hookline/v1/event_service_pb.js";
import type { EventServiceClient } from "./client.js";
import { cursorExpired } from "./errors.js";

/** One frame handed to the caller: an event, or a bookmark. */
export type Frame = { case: "event"; value: Event } | { case: "bookmark"; value: Bookmark };

/** Reconnect delays: exponential, capped, with full jitter. */
export interface BackoffOptions {
  /** Ceiling of the first delay; default 250 ms. */
  initialMs: number;
  /** Largest ceiling; default 30 s. */
  maxMs: number;
  /** Growth of the ceiling per consecutive failure; default 2. */
  multiplier: number;
}

/** The default reconnect delays. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000, multiplier: 2 };

/**
 * backoffDelay returns the delay before reconnect attempt `attempt` (1 for
 * the first after a failure): a uniformly random duration between 0 and
 * min(maxMs, initialMs × multiplier^(attempt−1)) ("full jitter"), so that
 * many subscribers of a restarted gateway do not reconnect in step.
 * `random` returns a number in [0, 1), like Math.random.
 */
export function backoffDelay(attempt: number, backoff: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** What onRetry is told before each reconnect. */
export interface RetryInfo {
  /** Consecutive failed attempts, 1 for the first; reset by any frame. */
  attempt: number;
  /** How long the helper waits before reconnecting. */
  delayMs: number;
  /** Why the stream ended. */
  error: ConnectError;
  /** The sequence it will resume after; undefined before the first frame. */
  cursor: bigint | undefined;
}

/** Options of subscribe. */
export interface SubscribeOptions {
  /** Which events to deliver; default all. */
  filter?: MessageInitShape<typeof EventFilterSchema>;
  /**
   * Start after this sequence: the last one seen, from an event or a
   * bookmark, for instance saved by an earlier run. Takes precedence over
   * startTime and position.
   */
  afterSequence?: bigint;
  /** Start with the events received at or after this time. */
  startTime?: Date;
  /**
   * Start at a named position (EARLIEST: everything retained). When no
   * start is given, only new events are delivered (LATEST). A stream that
   * breaks before its first frame is reopened with the same start; LATEST
   * can then miss what arrived in between (the gateway sends a bookmark as
   * soon as a stream has caught up, so this window is short).
   */
  position?: StartPosition;
  /** Bookmark interval asked of the gateway; default the gateway's (15 s). */
  bookmarkIntervalMs?: number;
  /** Reconnect delays; missing fields take DEFAULT_BACKOFF's values. */
  backoff?: Partial<BackoffOptions>;
  /** Ends the subscription: the iteration then simply finishes. */
  signal?: AbortSignal;
  /** Called before every reconnect, e.g. to log it. */
  onRetry?: (info: RetryInfo) => void;
}

/**
 * Where the helper gets its client: one client, or a function called before
 * every (re)connect attempt, for a gateway whose address can change
 * (service discovery, or a test that restarts it on new ports).
 */
export type ClientSource = EventServiceClient | (() => EventServiceClient);

/**
 * isRetryable tells whether a subscription that ended with err should be
 * reopened: transient failures (the gateway restarting or unreachable,
 * UNAVAILABLE, including its SHUTTING_DOWN frame; too many subscriptions;
 * a reset stream) are; errors the caller must fix (a bad token, a bad filter,
 * a cursor outside the log) are not.
 */
export function isRetryable(err: ConnectError): boolean {
  switch (err.code) {
    case Code.Unavailable:
    case Code.ResourceExhausted:
    case Code.Aborted:
    case Code.Internal:
    case Code.Unknown:
    case Code.DeadlineExceeded:
    case Code.Canceled:
      return true;
    default:
      return false;
  }
}

/**
 * subscribe yields the events (and bookmarks) of a Subscribe stream and
 * reopens the stream when it breaks, after the last sequence yielded, with
 * exponential backoff between failed attempts. The caller sees every
 * matching event once, in log order, as long as the gateway still holds
 * the events after the cursor.
 *
 * It ends when options.signal aborts or the caller stops iterating (both
 * cancel the open call). It throws CursorExpiredError when the events after
 * the cursor are no longer retained, and the ConnectError of any error that
 * isRetryable refuses (UNAUTHENTICATED, INVALID_ARGUMENT, CURSOR_AHEAD, …).
 *
 * The cursor to save for a later run is the `sequence` of the last frame
 * processed: events and bookmarks both have one.
 */
export async function* subscribe(source: ClientSource, options: SubscribeOptions = {}): AsyncGenerator<Frame, void, undefined> {
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  const signal = options.signal;
  let cursor = options.afterSequence;
  let attempt = 0;
  while (!signal?.aborted) {
    const client = typeof source === "function" ? source() : source;
    const call = new AbortController();
    const cancel = () => call.abort();
    signal?.addEventListener("abort", cancel, { once: true });
    let failure: ConnectError;
    try {
      for await (const res of client.subscribe(request(options, cursor), { signal: call.signal })) {
        const frame = res.frame;
        if (frame.case !== "event" && frame.case !== "bookmark") {
          continue; // a frame kind newer than this client
        }
        attempt = 0;
        if (cursor === undefined || frame.value.sequence > cursor) {
          cursor = frame.value.sequence;
        }
        yield frame;
      }
      failure = new ConnectError("the gateway ended the subscription", Code.Unavailable);
    } catch (err) {
      if (signal?.aborted) {
        return;
      }
      failure = ConnectError.from(err);
      const expired = cursorExpired(failure, cursor ?? 0n);
      if (expired !== undefined) {
        throw expired;
      }
      if (!isRetryable(failure)) {
        throw failure;
      }
    } finally {
      signal?.removeEventListener("abort", cancel);
      call.abort(); // ends the call when the caller stopped iterating
    }
    attempt++;
    const delayMs = backoffDelay(attempt, backoff);
    options.onRetry?.({ attempt, delayMs, error: failure, cursor });
    try {
      await sleep(delayMs, undefined, { signal });
    } catch {
      return; // aborted while waiting
    }
  }
}

/** request builds the SubscribeRequest that resumes after cursor. */
function request(options: SubscribeOptions, cursor: bigint | undefined): SubscribeRequest {
  let start: SubscribeRequest["start"] = { case: undefined };
  if (cursor !== undefined) {
    start = { case: "afterSequence", value: cursor };
  } else if (options.startTime !== undefined) {
    start = { case: "startTime", value: timestampFromDate(options.startTime) };
  } else if (options.position !== undefined) {
    start = { case: "position", value: options.position };
  }
  return create(SubscribeRequestSchema, {
    filter: options.filter,
    start,
    bookmarkInterval: options.bookmarkIntervalMs === undefined ? undefined : durationFromMs(options.bookmarkIntervalMs),
  });
}
