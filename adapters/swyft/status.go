package swyft

import (
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// mapStatus maps a raw Swyft status (order status or processing status
// alike) to the unified status, comparing after adapters.NormalizeToken:
// UNSPECIFIED when absent, UNKNOWN when not in the table (the caller keeps
// the raw value next to it). Swyft publishes no complete list; the table
// holds the values its docs show (Created, Under Review, Active, Cancelled,
// Processing, Completed, Complete) plus the usual spellings of the remaining
// unified states.
func mapStatus(raw string) hooklinev1.OrderStatus {
	switch adapters.NormalizeToken(raw) {
	case "":
		return hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED
	case "created":
		return hooklinev1.OrderStatus_ORDER_STATUS_CREATED
	case "under_review":
		return hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW
	case "active":
		return hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE
	case "processing":
		return hooklinev1.OrderStatus_ORDER_STATUS_PROCESSING
	case "completed", "complete":
		return hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED
	case "cancelled", "canceled":
		return hooklinev1.OrderStatus_ORDER_STATUS_CANCELED
	case "pending":
		return hooklinev1.OrderStatus_ORDER_STATUS_PENDING
	case "error", "failed":
		return hooklinev1.OrderStatus_ORDER_STATUS_ERROR
	case "expired":
		return hooklinev1.OrderStatus_ORDER_STATUS_EXPIRED
	default:
		return hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN
	}
}
