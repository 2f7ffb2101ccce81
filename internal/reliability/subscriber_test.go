package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// watcher is a gRPC subscriber to the whole log that checks every frame as
// it arrives and resumes after a disconnect from the last sequence it saw
// (from an event or a bookmark), as a careful client does. Without a
// filter every event matches, so each event must carry the sequence right
// after the last one seen. It is safe for concurrent use.
type watcher struct {
	mu         sync.Mutex
	seqs       []uint64 // event sequences in arrival order
	last       uint64   // last sequence from an event or a bookmark
	bookmarks  int
	reconnects int
	problems   []string
}

// run subscribes to the gateway addr returns ("" while none is up) until
// ctx ends, reconnecting after every error. A subscription may end with
// UNAVAILABLE (its gateway was killed or is stopping); any other end is a
// problem.
func (w *watcher) run(ctx context.Context, addr func() string) {
	for ctx.Err() == nil {
		a := addr()
		if a == "" {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		err := w.subscribeOnce(ctx, a)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.reconnects++
		if code := grpcCode(err); code != codes.Unavailable {
			w.problems = append(w.problems, fmt.Sprintf("subscription ended with %v", err))
		}
		w.mu.Unlock()
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

func (w *watcher) subscribeOnce(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(apiToken)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	req := &hooklinev1.SubscribeRequest{BookmarkInterval: durationpb.New(time.Second)}
	w.mu.Lock()
	if w.last == 0 {
		req.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
	} else {
		req.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: w.last}
	}
	w.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := hooklinev1.NewEventServiceClient(conn).Subscribe(sctx, req)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		w.frame(resp)
	}
}

func (w *watcher) frame(resp *hooklinev1.SubscribeResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch f := resp.GetFrame().(type) {
	case *hooklinev1.SubscribeResponse_Event:
		seq := f.Event.GetSequence()
		switch {
		case seq <= w.last:
			w.problems = append(w.problems, fmt.Sprintf("DUPLICATE: event %s arrived after sequence %d had been seen", describe(f.Event), w.last))
		case seq > w.last+1:
			w.problems = append(w.problems, fmt.Sprintf("GAP: event %s arrived right after sequence %d; %d–%d never came",
				describe(f.Event), w.last, w.last+1, seq-1))
		}
		w.seqs = append(w.seqs, seq)
		w.last = max(w.last, seq)
	case *hooklinev1.SubscribeResponse_Bookmark:
		w.bookmarks++
		if bm := f.Bookmark.GetSequence(); bm < w.last {
			w.problems = append(w.problems, fmt.Sprintf("bookmark %d after sequence %d had been seen", bm, w.last))
		} else {
			w.last = bm
		}
	}
}

// lastSeen is the last sequence seen.
func (w *watcher) lastSeen() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// check compares what the watcher received with the log: every event
// exactly once, in log order.
func (w *watcher) check(t *testing.T, who string, events []*hooklinev1.Event) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, p := range w.problems {
		if i == 20 {
			t.Errorf("%s: … and %d more problems", who, len(w.problems)-20)
			break
		}
		t.Errorf("%s: %s", who, p)
	}
	got := map[uint64]int{}
	for _, s := range w.seqs {
		got[s]++
	}
	missing := 0
	for _, ev := range events {
		if got[ev.GetSequence()] == 0 {
			missing++
			if missing <= 10 {
				t.Errorf("%s never received event %s", who, describe(ev))
			}
		}
	}
	if missing > 10 {
		t.Errorf("%s missed %d of %d events in all", who, missing, len(events))
	}
	if len(w.seqs) != len(events) {
		t.Errorf("%s received %d events, the log holds %d", who, len(w.seqs), len(events))
	}
}
