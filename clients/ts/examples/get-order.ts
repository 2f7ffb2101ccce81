// Example: a unary call. Prints an order's current state as JSON.
//
//   HOOKLINE_TOKEN=… node dist/examples/get-order.js [--addr URL] ORDER_ID
//
// Exit status: 0 when found, 3 when the gateway does not know the order,
// 1 on any other error.

import { toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseArgs } from "node:util";
import { OrderStateSchema } from "../gen/hookline/v1/event_service_pb.js";
import { connect } from "../src/client.js";
import { reasonOf } from "../src/errors.js";
import { address, grpcCode, token } from "./options.js";

const { values: flags, positionals } = parseArgs({
  options: { addr: { type: "string" } },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  process.stderr.write("usage: get-order [--addr URL] ORDER_ID\n");
  process.exit(1);
}

const conn = connect({ baseUrl: address(flags.addr, process.env), token: token(process.env) });
try {
  const res = await conn.client.getOrder({ orderId: positionals[0] });
  if (res.order !== undefined) {
    process.stdout.write(toJsonString(OrderStateSchema, res.order, { prettySpaces: 2 }) + "\n");
  }
} catch (err) {
  if (!(err instanceof ConnectError)) {
    throw err;
  }
  const reason = reasonOf(err);
  process.stderr.write(`GetOrder failed: ${grpcCode(err.code)}${reason ? "/" + reason : ""}: ${err.rawMessage}\n`);
  process.exitCode = err.code === Code.NotFound ? 3 : 1;
} finally {
  conn.close();
}
