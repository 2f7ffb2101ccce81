package subscription

import (
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestBookmarkIntervalBounds: the server default applies when the request
// names none, and any request is clamped to 1 s – 5 min.
func TestBookmarkIntervalBounds(t *testing.T) {
	for _, tc := range []struct {
		req  *durationpb.Duration
		want time.Duration
	}{
		{nil, 15 * time.Second},
		{durationpb.New(5 * time.Second), 5 * time.Second},
		{durationpb.New(10 * time.Millisecond), time.Second},
		{durationpb.New(-time.Second), time.Second},
		{durationpb.New(time.Hour), 5 * time.Minute},
	} {
		got := bookmarkInterval(&hooklinev1.SubscribeRequest{BookmarkInterval: tc.req}, DefaultBookmarkInterval)
		if got != tc.want {
			t.Errorf("bookmark_interval %v: %v, want %v", tc.req.AsDuration(), got, tc.want)
		}
	}
}
