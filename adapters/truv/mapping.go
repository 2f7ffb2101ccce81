package truv

import (
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// eventKind says which body an event type gets and how it is filled.
type eventKind int

const (
	kindOrder eventKind = iota + 1
	kindTask
	kindLink
	kindData
)

// eventSpec describes one known Truv event type.
type eventSpec struct {
	kind      eventKind
	eventType hooklinev1.EventType
	// refreshFailed marks order-refresh-failed: status ERROR, the raw
	// status becomes the failure reason.
	refreshFailed bool
	// stage and failureReason are fixed for link events.
	stage         hooklinev1.SessionStage
	failureReason string
	// dataKind names the object of a data notification.
	dataKind string
}

// eventTypes maps the folded Truv event type (see eventKey) to its spec.
// Never mutated.
var eventTypes = map[string]eventSpec{
	"order-created":           {kind: kindOrder, eventType: hooklinev1.EventType_EVENT_TYPE_ORDER_CREATED},
	"order-status-updated":    {kind: kindOrder, eventType: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED},
	"order-refresh-failed":    {kind: kindOrder, eventType: hooklinev1.EventType_EVENT_TYPE_ORDER_REFRESH_FAILED, refreshFailed: true},
	"order-finalized":         {kind: kindOrder, eventType: hooklinev1.EventType_EVENT_TYPE_ORDER_FINALIZED},
	"certification-completed": {kind: kindOrder, eventType: hooklinev1.EventType_EVENT_TYPE_ORDER_CERTIFICATION_COMPLETED},

	"task-status-updated": {kind: kindTask},

	"link-connected": {kind: kindLink, eventType: hooklinev1.EventType_EVENT_TYPE_LINK_CONNECTED,
		stage: hooklinev1.SessionStage_SESSION_STAGE_CONNECTED},
	"link-disconnected": {kind: kindLink, eventType: hooklinev1.EventType_EVENT_TYPE_LINK_DISCONNECTED,
		stage: hooklinev1.SessionStage_SESSION_STAGE_FAILED, failureReason: "link_disconnected"},
	"link-deleted": {kind: kindLink, eventType: hooklinev1.EventType_EVENT_TYPE_LINK_DELETED,
		stage: hooklinev1.SessionStage_SESSION_STAGE_REVOKED},

	"employment-created":    {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, dataKind: "employment"},
	"employment-updated":    {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, dataKind: "employment"},
	"profile-created":       {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, dataKind: "profile"},
	"profile-updated":       {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, dataKind: "profile"},
	"statements-created":    {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, dataKind: "statements"},
	"statements-updated":    {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, dataKind: "statements"},
	"shifts-created":        {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, dataKind: "shifts"},
	"shifts-updated":        {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, dataKind: "shifts"},
	"bank-accounts-created": {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_CREATED, dataKind: "bank-accounts"},
	"bank-accounts-updated": {kind: kindData, eventType: hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED, dataKind: "bank-accounts"},
}

// orderStatuses maps a normalized Truv order status (adapters.NormalizeToken)
// to the unified status. Never mutated.
var orderStatuses = map[string]hooklinev1.OrderStatus{
	"":          hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED,
	"pending":   hooklinev1.OrderStatus_ORDER_STATUS_PENDING,
	"sent":      hooklinev1.OrderStatus_ORDER_STATUS_SENT,
	"completed": hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED,
	"done":      hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED,
	"error":     hooklinev1.OrderStatus_ORDER_STATUS_ERROR,
	"canceled":  hooklinev1.OrderStatus_ORDER_STATUS_CANCELED,
	"cancelled": hooklinev1.OrderStatus_ORDER_STATUS_CANCELED,
	"expired":   hooklinev1.OrderStatus_ORDER_STATUS_EXPIRED,
	"skipped":   hooklinev1.OrderStatus_ORDER_STATUS_SKIPPED,
	"no_data":   hooklinev1.OrderStatus_ORDER_STATUS_NO_DATA,
}

// orderStatus maps a raw Truv order status; unknown values are UNKNOWN.
func orderStatus(raw string) hooklinev1.OrderStatus {
	if s, ok := orderStatuses[adapters.NormalizeToken(raw)]; ok {
		return s
	}
	return hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN
}

// taskMapping is what a Truv task status means for its session.
type taskMapping struct {
	eventType hooklinev1.EventType
	stage     hooklinev1.SessionStage
	// failed marks error statuses: the raw status is the failure reason.
	failed bool
}

var (
	taskStarted    = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, hooklinev1.SessionStage_SESSION_STAGE_STARTED, false}
	taskLogin      = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, hooklinev1.SessionStage_SESSION_STAGE_CREDENTIALS_SUBMITTED, false}
	taskMFA        = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED, hooklinev1.SessionStage_SESSION_STAGE_MFA, false}
	taskProcessing = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, hooklinev1.SessionStage_SESSION_STAGE_PROCESSING, false}
	taskDone       = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.SessionStage_SESSION_STAGE_DONE, false}
	taskFailed     = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, hooklinev1.SessionStage_SESSION_STAGE_FAILED, true}
	taskUnknown    = taskMapping{hooklinev1.EventType_EVENT_TYPE_SESSION_STATUS_UNKNOWN, hooklinev1.SessionStage_SESSION_STAGE_UNKNOWN, false}
)

// taskStatuses maps a normalized Truv task status (adapters.NormalizeToken)
// to its meaning. Never mutated.
var taskStatuses = map[string]taskMapping{
	"new":     taskStarted,
	"pending": taskStarted, // a Dashboard label; decision
	"login":   taskLogin,
	"mfa":     taskMFA,

	"parse":          taskProcessing,
	"full_parse":     taskProcessing,
	"base_parse":     taskProcessing, // older documents' spelling
	"switch_deposit": taskProcessing,

	"done": taskDone,

	"login_error":     taskFailed,
	"mfa_error":       taskFailed,
	"config_error":    taskFailed,
	"account_locked":  taskFailed,
	"unable_to_reset": taskFailed,
	"no_data":         taskFailed,
	"unavailable":     taskFailed,
	"error":           taskFailed,
	"not_supported":   taskFailed,
}

// taskStatus maps a raw Truv task status; unknown and empty values are
// SESSION_STATUS_UNKNOWN.
func taskStatus(raw string) taskMapping {
	if m, ok := taskStatuses[adapters.NormalizeToken(raw)]; ok {
		return m
	}
	return taskUnknown
}
