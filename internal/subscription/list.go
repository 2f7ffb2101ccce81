package subscription

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"google.golang.org/protobuf/proto"
)

// Page bounds of List: at most MaxPageSize events and MaxPageBytes bytes of
// events; a page ends early, with a next_page_token, when the next event
// would exceed the byte budget, except that an event larger than the
// budget is served alone.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	MaxPageBytes    = 2 << 20
)

const pageTokenPrefix = "after:"

// PageToken returns the page token that continues a list after sequence
// seq, as a ListEventsResponse's next_page_token does.
func PageToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatUint(seq, 10)))
}

func decodePageToken(tok string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), pageTokenPrefix) {
		return 0, invalidArgument("page_token is not a token this server issued")
	}
	seq, err := strconv.ParseUint(strings.TrimPrefix(string(b), pageTokenPrefix), 10, 64)
	if err != nil {
		return 0, invalidArgument("page_token is not a token this server issued")
	}
	return seq, nil
}

var errPageFull = errors.New("page full")

// List returns one page of matching events in log order. Without a cursor
// (after_sequence unset and no page token) it starts at the earliest
// retained event; a cursor must still be retained and must not lie beyond
// the end of the log (one from another log, or from before the log was
// wiped), as for Subscribe.
func (s *Service) List(ctx context.Context, req *hooklinev1.ListEventsRequest) (*hooklinev1.ListEventsResponse, error) {
	if err := ValidateFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidArgument("page_size must not be negative")
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	after := req.GetAfterSequence()
	tok := req.GetPageToken()
	if tok != "" {
		var err error
		if after, err = decodePageToken(tok); err != nil {
			return nil, err
		}
	}
	first, last, err := s.log.Bounds(ctx)
	if err != nil {
		return nil, err
	}
	if (after > 0 || tok != "") && after+1 < first {
		return nil, &CursorError{Expired: true, Earliest: first, Latest: last}
	}
	if after > last {
		return nil, &CursorError{Earliest: first, Latest: last}
	}
	filter := fanout.NewFilter(req.GetFilter())
	exclude := req.GetFilter().GetExcludeSuperseded()
	resp := &hooklinev1.ListEventsResponse{}
	pageBytes := 0
	_, err = s.log.Read(ctx, eventlog.Start{AfterSequence: after}, FilterSubjects(s.log.SubjectPrefix(), req.GetFilter()), last,
		func(ev *hooklinev1.Event) error {
			if !filter.Match(ev) || exclude && s.superseded(ev.GetId()) {
				return nil
			}
			n := proto.Size(ev)
			if len(resp.Events) > 0 && pageBytes+n > MaxPageBytes {
				return errPageFull
			}
			resp.Events = append(resp.Events, ev)
			pageBytes += n
			if len(resp.Events) == size {
				return errPageFull
			}
			return nil
		})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, err
	}
	if errors.Is(err, errPageFull) && resp.Events[len(resp.Events)-1].GetSequence() < last {
		resp.NextPageToken = PageToken(resp.Events[len(resp.Events)-1].GetSequence())
	}
	return resp, nil
}
