package swyft

import (
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

func TestMapStatus(t *testing.T) {
	tests := []struct {
		raw  string
		want hooklinev1.OrderStatus
	}{
		{"", hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED},
		{"Created", hooklinev1.OrderStatus_ORDER_STATUS_CREATED},
		{"Under Review", hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW},
		{"under_review", hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW},
		{"UNDER-REVIEW", hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW},
		{" Under  Review ", hooklinev1.OrderStatus_ORDER_STATUS_UNDER_REVIEW},
		{"Active", hooklinev1.OrderStatus_ORDER_STATUS_ACTIVE},
		{"Processing", hooklinev1.OrderStatus_ORDER_STATUS_PROCESSING},
		{"Completed", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED},
		{"Complete", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED},
		{"Cancelled", hooklinev1.OrderStatus_ORDER_STATUS_CANCELED},
		{"Canceled", hooklinev1.OrderStatus_ORDER_STATUS_CANCELED},
		{"Pending", hooklinev1.OrderStatus_ORDER_STATUS_PENDING},
		{"Error", hooklinev1.OrderStatus_ORDER_STATUS_ERROR},
		{"Failed", hooklinev1.OrderStatus_ORDER_STATUS_ERROR},
		{"Expired", hooklinev1.OrderStatus_ORDER_STATUS_EXPIRED},
		{"On Hold", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN},
		{"Not started", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := mapStatus(tt.raw); got != tt.want {
				t.Errorf("mapStatus(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}
