// Package finicity is the webhook adapter for Mastercard Open Finance /
// Finicity Data Connect (provider name `finicity`, alias `mastercard`).
//
// It accepts three kinds of delivery on one URL and turns each into exactly
// one hooklinev1.Event (or a ping):
//
//   - Connect events, sent during a Connect session: a JSON wrapper with
//     `customerId`, optional `consumerId`, `eventType`, `eventId`, an
//     event-specific `payload` and the caller's `webhookData`.
//   - Report webhooks (Generate Report `callbackUrl`, and the flat AU shape):
//     JSON with `eventName`, `id`, `status`, `type`, `customerId` (a number
//     in samples) or `consumerId`, `portfolioId` and `reportCustomFields`.
//     They carry no event id and no time. `consumerSsn` is never copied into
//     the normalized event; it stays in the raw delivery only.
//   - Report webhooks in XML (their content type follows the Accept header of
//     the report request): accepted and kept unparsed as one unmapped event
//     (UNEXPECTED_SHAPE, provider_event_type `xml-report`, deduplicated on the
//     body hash).
//
// # Authentication
//
// Connect events carry a bare hex HMAC-SHA256 of the body keyed with the
// partner secret, in `X-Finicity-Signature` or (newer AU pages) `X-Signature`.
// When `X-Finicity-Signature` has a non-empty value it is the one checked and
// `X-Signature` is ignored. Surrounding whitespace and upper-case hex are
// tolerated; a `v1=` prefix is not (Finicity never sends one). Every
// configured secret is tried, so secrets can be rotated.
//
// Report webhooks are not signed by Finicity. A source that receives them must
// be configured with AllowUnauthenticated and no secrets; Verify then accepts
// every delivery.
//
// # Options
//
//   - `session_field`: a key of `webhookData`. When set and the delivery's
//     `webhookData` holds a non-empty string or a number under that key, the
//     session key becomes `customerId + "/" + value`, so that several Connect
//     sessions of one customer are told apart. Default: none (the session key
//     is `customerId`).
//   - `reserialize_fallback`: `true` or `false` (default `false`; any other
//     value is a configuration error). Finicity's documentation signs
//     `JSON.stringify(parsedBody)` rather than the bytes on the wire. With
//     this option, when the HMAC of the raw body does not match, the HMAC of
//     the body re-serialized compactly (encoding/json.Compact of the raw bytes:
//     insignificant whitespace removed, nothing else changed) is tried too.
//     Risk: the gateway then accepts a body whose whitespace differs from what
//     was signed. The JSON content is the same, but the raw body stored is not
//     byte for byte the signed one, and an attacker who holds one signed body
//     can replay it with different whitespace (and hence a different body hash;
//     de-duplication on `eventId` still catches the replay). Only whitespace is
//     rescued: a sender whose serializer also re-escapes strings or rewrites
//     numbers still fails.
//
// # Connect event mapping
//
// `eventType` is matched case-insensitively against the documented camelCase
// names. The session key is `customerId` (optionally extended, see
// `session_field`); a known event without `customerId` is unmapped
// (MISSING_SUBJECT). Event.time and SessionEvent.update_time are the 13-digit
// epoch-millisecond prefix of `eventId` (`<millis>-<24 hex>`), unset when the
// id does not have that form.
//
//	eventType                event type                           stage                  failure_reason
//	started                  SESSION_STARTED                      STARTED
//	institutionSupported     SESSION_INSTITUTION_SELECTED         INSTITUTION_SELECTED
//	institutionNotSupported  SESSION_INSTITUTION_NOT_SUPPORTED    INSTITUTION_SELECTED   institution_not_supported
//	institutionNotFound      SESSION_INSTITUTION_NOT_FOUND        INSTITUTION_SELECTED   institution_not_found
//	adding                   SESSION_CREDENTIALS_SUBMITTED        CREDENTIALS_SUBMITTED
//	credentialsUpdated       SESSION_CREDENTIALS_SUBMITTED        CREDENTIALS_SUBMITTED
//	invalidCredentials       SESSION_CREDENTIALS_INVALID          CREDENTIALS_SUBMITTED  invalid_credentials
//	mfa                      SESSION_MFA_CHALLENGED               MFA
//	mfaUpdated               SESSION_MFA_ANSWERED                 MFA
//	discovered               SESSION_ACCOUNTS_DISCOVERED          ACCOUNTS_DISCOVERED
//	added                    SESSION_ACCOUNTS_ADDED               ACCOUNTS_ADDED
//	accountsDeleted          SESSION_ACCOUNTS_DELETED             REVOKED
//	processing               SESSION_PROCESSING                   PROCESSING
//	done                     SESSION_COMPLETED                    DONE
//	unableToConnect          SESSION_FAILED                       FAILED                 unable_to_connect[:<payload.code>]
//	ping                     (Result.Ping, no event)
//	anything else            UNMAPPED (UNKNOWN_EVENT_TYPE), including the deprecated AU financialConsentCreated
//
// The institution is not supported / not found / credentials are invalid
// events keep a non-terminal stage because the user may pick another
// institution or retry. `done` may carry an object or an array with one entry
// per report; either way it yields one event. Payload fields copied:
// `institutionId`, `oauth`, `mfa`, `query` (institution_query), `accounts`
// (account objects, or account ids for `accountsDeleted`) and `webhookData`
// (caller_data). A payload whose known fields have the wrong JSON type yields
// an unmapped event (UNEXPECTED_SHAPE) rather than a partial one.
//
// Account amounts (`balance`, `detail.availableBalanceAmount`) and
// `institutionLoginId` keep the exact decimal text sent; epoch-second dates
// become timestamps, with `0` meaning unknown.
//
// # Report mapping
//
// A delivery with no `eventType` but an `eventName` is a report webhook:
//
//	eventName           event type
//	inProgress          REPORT_IN_PROGRESS
//	done                REPORT_COMPLETED
//	failed              REPORT_FAILED
//	primaryFieldUpdate  REPORT_UPDATED
//	anything else       UNMAPPED (UNKNOWN_EVENT_TYPE)
//
// The session key is `customerId`, else `consumerId`; the stage is left
// UNSPECIFIED because a report does not move the Connect session. A delivery
// with neither `eventType` nor `eventName` is unmapped (UNEXPECTED_SHAPE) with
// provider_event_type `(missing)`.
//
// # De-duplication
//
// Connect events deduplicate on `eventId` (the body hash when it is absent).
// Report webhooks have no event id: they deduplicate on
// `report:<id>:<eventName>:<status>`, so one report passing through the same
// state twice is stored once; a report webhook without an `id` falls back to
// the body hash so that unrelated reports are not merged. XML reports and
// deliveries of unknown shape deduplicate on the body hash.
//
// Adapters built here hold only their immutable configuration and are safe
// for concurrent use.
package finicity
