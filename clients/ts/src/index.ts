// hookline's TypeScript client: the generated EventService types, a
// connection helper with bearer-token auth, a resumable subscription and
// the decoding of the gateway's google.rpc.ErrorInfo details.

export * from "../gen/hookline/v1/event_pb.js";
export * from "../gen/hookline/v1/event_service_pb.js";
export * from "./client.js";
export * from "./errors.js";
export * from "./subscribe.js";
