// End-to-end tests against the real gateway: built from ./cmd/hookline,
// run as a child process on 127.0.0.1:0 ports, fed signed Truv deliveries
// over HTTP, read with this package over gRPC.
//
// Deadlines here only stop a hung test; no assertion is about time.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { OrderStatus, Provider } from "../gen/hookline/v1/event_pb.js";
import { StartPosition } from "../gen/hookline/v1/event_service_pb.js";
import { connect, type Connection } from "../src/client.js";
import { CursorExpiredError, ERROR_DOMAIN, errorInfo, reasonOf } from "../src/errors.js";
import { subscribe, type RetryInfo } from "../src/subscribe.js";
import { API_TOKEN, cleanEnv, eventually, Gateway, postTruv, truvOrderBody, Workdir } from "./gateway.js";

const HANG_GUARD = { timeout: 240_000 };

let work: Workdir;
const running = new Set<Gateway>();
const connections = new Set<Connection>();

before(
  async () => {
    work = await Workdir.create();
    await work.build();
  },
  { timeout: 600_000 },
);

after(async () => {
  for (const c of connections) {
    c.close();
  }
  for (const g of running) {
    g.kill();
  }
  await work?.remove();
});

async function startGateway(dataDir: string, args: string[] = []): Promise<Gateway> {
  const g = await Gateway.start(work, { dataDir: join(work.path, dataDir), args });
  running.add(g);
  return g;
}

async function stopGateway(g: Gateway): Promise<void> {
  await g.stop();
  running.delete(g);
}

function dial(g: Gateway, token: string | undefined = API_TOKEN): Connection {
  const c = connect({ baseUrl: g.grpc, token });
  connections.add(c);
  return c;
}

/** What the test knows of one stored event: its sequence and id. */
interface Stored {
  sequence: bigint;
  id: string;
}

/** post sends Truv deliveries tag-from … tag-(from+n-1) and returns the events stored. */
async function post(g: Gateway, tag: string, from: number, n: number): Promise<Stored[]> {
  const out: Stored[] = [];
  for (let i = from; i < from + n; i++) {
    const acc = await postTruv(g.http, truvOrderBody(tag, i));
    assert.equal(acc.events.length, 1, `delivery ${tag}-${i}: one event`);
    assert.equal(acc.duplicate, false, `delivery ${tag}-${i}: not a duplicate`);
    out.push({ sequence: BigInt(acc.events[0]!.sequence), id: acc.events[0]!.id });
  }
  return out;
}

/** runExample runs a compiled example with HOOKLINE_TOKEN set. */
async function runExample(name: string, args: string[], token = API_TOKEN): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: { ...cleanEnv(), HOOKLINE_TOKEN: token },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") {
      throw err;
    }
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("a subscription resumes across a gateway restart: every event once, in order", HANG_GUARD, async () => {
  let gw = await startGateway("restart");
  const expected = await post(gw, "restart", 0, 5);

  // The client asks this function for its client before every attempt, so
  // it follows the gateway to its new ports.
  let conn = dial(gw);
  const received: Stored[] = [];
  const retries: RetryInfo[] = [];
  const stop = new AbortController();
  const reading = (async () => {
    for await (const frame of subscribe(() => conn.client, {
      position: StartPosition.EARLIEST,
      bookmarkIntervalMs: 1000,
      backoff: { initialMs: 20, maxMs: 300 },
      signal: stop.signal,
      onRetry: (r) => retries.push(r),
    })) {
      if (frame.case === "event") {
        received.push({ sequence: frame.value.sequence, id: frame.value.id });
      }
    }
  })();
  const receivedAll = (what: string) => eventually(what, () => (received.length >= expected.length ? true : undefined));

  await receivedAll("the events stored before subscribing (catch-up)");
  expected.push(...(await post(gw, "restart", 5, 5)));
  await receivedAll("the events stored while subscribed (live)");
  const beforeRestart = expected.at(-1)!.sequence;

  // SIGTERM: the stream ends with UNAVAILABLE / SHUTTING_DOWN; then the old
  // address refuses connections until the client is pointed elsewhere.
  await stopGateway(gw);
  const retriesAtExit = retries.length;
  await eventually("a reconnect refused by the stopped gateway", () => (retries.length > retriesAtExit ? true : undefined));
  gw = await startGateway("restart");
  // Stored while the subscriber cannot reach the gateway: it must get them
  // from the log when it resumes.
  expected.push(...(await post(gw, "restart", 10, 5)));
  conn = dial(gw);
  await receivedAll("the events stored while the subscriber was away");
  expected.push(...(await post(gw, "restart", 15, 5)));
  await receivedAll("the events stored after it resumed");

  stop.abort();
  await reading;
  await stopGateway(gw);

  assert.deepEqual(received, expected, "every event once, in log order");
  for (let i = 1; i < received.length; i++) {
    assert.ok(received[i]!.sequence > received[i - 1]!.sequence, `sequence ${received[i]!.sequence} after ${received[i - 1]!.sequence}`);
  }
  const first = retries[0]!;
  assert.equal(first.error.code, Code.Unavailable, `first retry: ${first.error.message}`);
  assert.equal(reasonOf(first.error), "SHUTTING_DOWN");
  assert.equal(first.cursor, beforeRestart, "it resumes after the last sequence it saw");
  for (const r of retries) {
    assert.equal(r.cursor, beforeRestart, "no frame arrived between the restart's retries");
  }
});

test("CURSOR_EXPIRED is reported with the earliest sequence, and never skipped", HANG_GUARD, async () => {
  // A log capped at a few KiB drops its oldest events as new ones arrive.
  const gw = await startGateway("expired", ["--retention-bytes", "4096"]);
  await post(gw, "expired", 0, 40);
  const conn = dial(gw);
  const page = await conn.client.listEvents({ pageSize: 1 });
  const earliest = page.events[0]!.sequence;
  assert.ok(earliest > 2n, `the log dropped its first events (earliest retained: ${earliest})`);

  const retries: RetryInfo[] = [];
  await assert.rejects(
    async () => {
      for await (const frame of subscribe(conn.client, { afterSequence: 1n, onRetry: (r) => retries.push(r) })) {
        assert.fail(`no frame expected, got ${frame.case} ${frame.value.sequence}`);
      }
    },
    (err: unknown) => {
      assert.ok(err instanceof CursorExpiredError, `CursorExpiredError, got ${err}`);
      assert.equal(err.cursor, 1n);
      assert.equal(err.earliestSequence, earliest);
      assert.equal(err.cause.code, Code.OutOfRange);
      const info = errorInfo(err.cause);
      assert.equal(info?.reason, "CURSOR_EXPIRED");
      assert.equal(info?.domain, ERROR_DOMAIN);
      assert.equal(info?.metadata["earliest_sequence"], String(earliest));
      return true;
    },
  );
  assert.equal(retries.length, 0, "an expired cursor is not retried");

  // Accepting the gap, as the error suggests, continues with the oldest event.
  for await (const frame of subscribe(conn.client, { afterSequence: earliest - 1n })) {
    assert.equal(frame.case, "event");
    assert.equal(frame.value.sequence, earliest);
    break;
  }

  const cli = await runExample("subscribe", ["--addr", gw.grpc, "--after", "1"]);
  assert.equal(cli.code, 2, `exit status; stderr:\n${cli.stderr}`);
  assert.match(cli.stderr, /CURSOR_EXPIRED/);
  assert.match(cli.stderr, new RegExp(`earliest sequence it holds is ${earliest}\\b`));
  assert.match(cli.stderr, new RegExp(`--after ${earliest - 1n}\\b`));
  assert.equal(cli.stdout, "", "no events printed");
  await stopGateway(gw);
});

describe("the read API", () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway("api");
  }, HANG_GUARD);
  after(async () => {
    await stopGateway(gw);
  });

  test("GetOrder returns the order", HANG_GUARD, async () => {
    const [stored] = await post(gw, "api", 1, 1);
    const conn = dial(gw);
    // The index behind GetOrder trails the log by a few milliseconds.
    const order = await eventually("the order in the index", async () => {
      try {
        return (await conn.client.getOrder({ orderId: "api-order-1" })).order;
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.NotFound) {
          return undefined;
        }
        throw err;
      }
    });
    assert.equal(order.orderId, "api-order-1");
    assert.equal(order.provider, Provider.TRUV);
    assert.equal(order.status, OrderStatus.COMPLETED);
    assert.equal(order.rawStatus, "completed");
    assert.equal(order.lastEventId, stored!.id);
    assert.equal(order.lastSequence, stored!.sequence);
    assert.equal(order.eventCount, 1n);

    const cli = await runExample("get-order", ["--addr", gw.grpc, "api-order-1"]);
    assert.equal(cli.code, 0, cli.stderr);
    const json = JSON.parse(cli.stdout) as Record<string, unknown>;
    assert.equal(json["orderId"], "api-order-1");
    assert.equal(json["status"], "ORDER_STATUS_COMPLETED");
    assert.equal(json["lastSequence"], String(stored!.sequence));

    const missing = await runExample("get-order", ["--addr", gw.grpc, "no-such-order"]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /NOT_FOUND/);
  });

  test("a wrong or missing token is UNAUTHENTICATED, and a subscription does not retry it", HANG_GUARD, async () => {
    for (const token of ["wrong-token", ""]) {
      const conn = dial(gw, token);
      await assert.rejects(conn.client.getOrder({ orderId: "api-order-1" }), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.Unauthenticated, `token ${JSON.stringify(token)}: ${err.message}`);
        assert.equal(reasonOf(err), "UNAUTHENTICATED");
        return true;
      });
      const retries: RetryInfo[] = [];
      await assert.rejects(
        async () => {
          for await (const frame of subscribe(conn.client, { position: StartPosition.EARLIEST, onRetry: (r) => retries.push(r) })) {
            assert.fail(`no frame expected, got ${frame.case}`);
          }
        },
        (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
      );
      assert.equal(retries.length, 0);
    }
    const cli = await runExample("get-order", ["--addr", gw.grpc, "api-order-1"], "wrong-token");
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /UNAUTHENTICATED/);
  });
});
