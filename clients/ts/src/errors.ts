// The gateway's error details, decoded from a ConnectError.
//
// Every error the gateway returns carries a google.rpc.ErrorInfo with a
// stable `reason`, the domain `hookline.dev` and string metadata (see
// server/grpcerrors.go). google/rpc/error_details.proto is not part of our
// protos, so ErrorInfo is described here by hand: three fields of a stable,
// published message (googleapis, field numbers never change) are simpler to
// keep correct than a vendored copy of the whole file with its own buf
// module, lint exceptions and generation template. The e2e test decodes the
// real bytes the Go gateway sends with it.

import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

/** The ErrorInfo domain of every error the gateway returns. */
export const ERROR_DOMAIN = "hookline.dev";

/** ErrorInfo reasons the gateway uses (server/grpcerrors.go). */
export const Reason = {
  CURSOR_EXPIRED: "CURSOR_EXPIRED",
  CURSOR_AHEAD: "CURSOR_AHEAD",
  NOT_FOUND: "NOT_FOUND",
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  SHUTTING_DOWN: "SHUTTING_DOWN",
  TOO_MANY_SUBSCRIPTIONS: "TOO_MANY_SUBSCRIPTIONS",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  INTERNAL: "INTERNAL",
} as const;

/**
 * google.rpc.ErrorInfo: why an RPC failed, as a machine-readable reason
 * within a domain, with details in metadata.
 */
export type ErrorInfo = Message<"google.rpc.ErrorInfo"> & {
  /** The reason of the error, UPPER_SNAKE_CASE, unique within the domain. */
  reason: string;
  /** The logical grouping the reason belongs to (`hookline.dev`). */
  domain: string;
  /** Additional structured details, e.g. `earliest_sequence`. */
  metadata: { [key: string]: string };
};

const { OPTIONAL: LABEL_OPTIONAL, REPEATED: LABEL_REPEATED } = FieldDescriptorProto_Label;
const { STRING: TYPE_STRING, MESSAGE: TYPE_MESSAGE } = FieldDescriptorProto_Type;

/**
 * ErrorInfoSchema describes google.rpc.ErrorInfo exactly as
 * googleapis' google/rpc/error_details.proto does (fields 1–3; a map is a
 * repeated nested entry message), so `ConnectError.findDetails` can decode
 * it from the grpc-status-details-bin trailer.
 */
export const ErrorInfoSchema: GenMessage<ErrorInfo> = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "ErrorInfo",
        field: [
          { name: "reason", jsonName: "reason", number: 1, label: LABEL_OPTIONAL, type: TYPE_STRING },
          { name: "domain", jsonName: "domain", number: 2, label: LABEL_OPTIONAL, type: TYPE_STRING },
          {
            name: "metadata",
            jsonName: "metadata",
            number: 3,
            label: LABEL_REPEATED,
            type: TYPE_MESSAGE,
            typeName: ".google.rpc.ErrorInfo.MetadataEntry",
          },
        ],
        nestedType: [
          {
            name: "MetadataEntry",
            field: [
              { name: "key", jsonName: "key", number: 1, label: LABEL_OPTIONAL, type: TYPE_STRING },
              { name: "value", jsonName: "value", number: 2, label: LABEL_OPTIONAL, type: TYPE_STRING },
            ],
            options: { mapEntry: true },
          },
        ],
      },
    ],
  }),
  () => undefined,
).getMessage("google.rpc.ErrorInfo") as GenMessage<ErrorInfo>;

/**
 * errorInfo returns the google.rpc.ErrorInfo an error carries, or undefined
 * when it is not a ConnectError or has none.
 */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) {
    return undefined;
  }
  return err.findDetails(ErrorInfoSchema)[0];
}

/** reasonOf returns the ErrorInfo reason of an error, or "" when it has none. */
export function reasonOf(err: unknown): string {
  return errorInfo(err)?.reason ?? "";
}

/**
 * CursorExpiredError reports that the events after a subscription's cursor
 * are no longer retained (gRPC OUT_OF_RANGE, reason CURSOR_EXPIRED): the
 * subscriber has missed events it can never receive. Resuming is a
 * decision for the caller: `afterSequence: earliestSequence - 1n` continues
 * with the oldest retained event, accepting the gap.
 */
export class CursorExpiredError extends Error {
  override name = "CursorExpiredError";

  /**
   * @param cursor the after_sequence the gateway refused.
   * @param earliestSequence the oldest sequence the log still holds.
   * @param cause the ConnectError the gateway answered with.
   */
  constructor(
    readonly cursor: bigint,
    readonly earliestSequence: bigint,
    override readonly cause: ConnectError,
  ) {
    super(
      `cursor ${cursor} expired: events after it are no longer retained; ` +
        `the earliest retained sequence is ${earliestSequence} ` +
        `(resume with after_sequence ${earliestSequence > 0n ? earliestSequence - 1n : 0n} to accept the gap)`,
    );
  }
}

/**
 * cursorExpired returns a CursorExpiredError when err is the gateway's
 * OUT_OF_RANGE / CURSOR_EXPIRED answer to cursor, and undefined otherwise.
 * An ErrorInfo without a readable `earliest_sequence` is reported with 0.
 */
export function cursorExpired(err: unknown, cursor: bigint): CursorExpiredError | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.OutOfRange) {
    return undefined;
  }
  const info = errorInfo(err);
  if (info?.reason !== Reason.CURSOR_EXPIRED) {
    return undefined;
  }
  return new CursorExpiredError(cursor, parseSequence(info.metadata["earliest_sequence"]), err);
}

function parseSequence(s: string | undefined): bigint {
  if (s === undefined || !/^[0-9]+$/.test(s)) {
    return 0n;
  }
  return BigInt(s);
}
