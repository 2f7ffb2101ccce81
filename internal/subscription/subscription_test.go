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

// TestProgressLag: a subscription catching up counts every event up to its
// join point and what waits in its live buffer; the age is that of the
// newest event it was sent, or of the subscription before the first; a
// caught-up subscription lags by nothing.
func TestProgressLag(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &progress{opened: now.Add(-time.Minute)}
	if n, age := p.lag(now); n != 0 || age != 0 {
		t.Fatalf("new, caught-up subscription: %d events, %v; want none", n, age)
	}
	p.cursor.Store(10)
	p.target.Store(110)
	if n, age := p.lag(now); n != 100 || age != time.Minute {
		t.Fatalf("catching up before the first send: %d events, %v; want 100, 1m", n, age)
	}
	p.cursor.Store(60)
	p.sentReceived.Store(now.Add(-30 * time.Second).UnixNano())
	if n, age := p.lag(now); n != 50 || age != 30*time.Second {
		t.Fatalf("half way: %d events, %v; want 50, 30s", n, age)
	}
	p.cursor.Store(110)
	if n, age := p.lag(now); n != 0 || age != 0 {
		t.Fatalf("at the join point: %d events, %v; want none", n, age)
	}
}
