// Connecting to the gateway's gRPC port.

import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { EventService } from "../gen/hookline/v1/event_service_pb.js";

/** A client of hookline.v1.EventService. */
export type EventServiceClient = Client<typeof EventService>;

/** The gateway's default gRPC address (`--grpc-addr 127.0.0.1:9090`). */
export const DEFAULT_ADDRESS = "http://127.0.0.1:9090";

/**
 * The keepalive PING interval on a connection with open streams. The
 * gateway refuses pings more often than every 10 s (GOAWAY
 * ENHANCE_YOUR_CALM); the interval restarts whenever data arrives, so a
 * subscription receiving bookmarks rarely pings at all.
 */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** Options of connect. */
export interface ConnectOptions {
  /**
   * The gateway's gRPC address as a URL, `http://host:port` (plaintext
   * HTTP/2) or `https://host:port` (TLS). Default DEFAULT_ADDRESS.
   */
  baseUrl?: string;
  /**
   * The read API token. When set, every call carries
   * `authorization: Bearer <token>`. Default: none (a gateway on loopback
   * without HOOKLINE_API_TOKENS needs none).
   */
  token?: string;
  /** More interceptors, run after the bearer token one. */
  interceptors?: Interceptor[];
  /** Keepalive PING interval; default DEFAULT_PING_INTERVAL_MS. */
  pingIntervalMs?: number;
}

/**
 * A Connection is an EventService client over one HTTP/2 connection
 * manager. The manager reopens the connection on the next call after it
 * breaks (a gateway restart on the same address needs nothing from the
 * caller). close() closes the connection at once and fails its open calls;
 * otherwise an idle connection closes by itself after 15 minutes (it does
 * not keep the Node.js process alive).
 */
export interface Connection {
  /** The client; safe to share between concurrent calls. */
  readonly client: EventServiceClient;
  /** The address it talks to. */
  readonly baseUrl: string;
  /** Closes the connection. Calls made afterwards open a new one. */
  close(): void;
}

/** connect returns a client of the gateway's EventService over gRPC (HTTP/2). */
export function connect(options: ConnectOptions = {}): Connection {
  const baseUrl = options.baseUrl ?? DEFAULT_ADDRESS;
  const sessionManager = new Http2SessionManager(baseUrl, {
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
  });
  const interceptors: Interceptor[] = [];
  if (options.token !== undefined && options.token !== "") {
    interceptors.push(bearerToken(options.token));
  }
  interceptors.push(...(options.interceptors ?? []));
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors });
  return {
    client: createClient(EventService, transport),
    baseUrl,
    close: () => sessionManager.abort(),
  };
}

/**
 * bearerToken returns an interceptor that sends `authorization: Bearer
 * <token>` with every call, as the gateway's read API expects.
 */
export function bearerToken(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/**
 * normalizeAddress turns `host:port` into `http://host:port`; a value that
 * already has a scheme is returned as is.
 */
export function normalizeAddress(addr: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`;
}
