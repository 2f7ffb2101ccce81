package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const eventsUsage = `
Usage:
  hookline events list [flags]     ListEvents: one page of matching events, in log order
  hookline events get [flags] ID   GetEvent: one event by its id (evt_...)

Prints one JSON object (protojson): for list the ListEventsResponse
({"events":[...],"nextPageToken":"..."}), for get the Event. With --all, list
pages through every matching event and prints them as one response.

Examples:
  hookline events list --page-size 10
  hookline events list --provider truv --event-type ORDER_STATUS_CHANGED --all
  hookline events list --event-type UNMAPPED --all | jq '.events[].providerEventType'
  hookline events list --after 41 --page-size 100
  hookline events list --page-token "$(hookline events list | jq -r .nextPageToken)"
  hookline events get evt_ff11aa...`

const ordersUsage = `
Usage:
  hookline orders get [flags] ORDER_ID

GetOrder: the current state of an order (Truv order_id, Swyft order.uuid) as
one JSON object (protojson of OrderState).

Examples:
  hookline orders get ddd192646b3c48be96651a0ff25cef85
  hookline orders get ddd192646b3c48be96651a0ff25cef85 | jq -r .status`

const sessionsUsage = `
Usage:
  hookline sessions get [flags] SESSION_KEY

GetSession: the current state of a session (Finicity customerId[/session],
Truv task_id or link_id) as one JSON object (protojson of SessionState).

Examples:
  hookline sessions get 6030781868
  hookline sessions get 6030781868/sess-1`

// runEvents is `hookline events list|get`.
func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", eventsUsage, stderr)
	conn := addConnFlags(fs, getenv)
	filter := addFilterFlags(fs)
	pageSize := fs.Int("page-size", 0, "list: events per page (gateway default 100, at most 1000)")
	pageToken := fs.String("page-token", "", "list: the nextPageToken of a previous page")
	after := fs.Uint64("after", 0, "list: only events with a sequence greater than `N` (a cursor; first page only)")
	all := fs.Bool("all", false, "list: page through every matching event and print them as one response")
	pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErrorf("events: say list or get")
	}
	switch pos[0] {
	case "list":
		if len(pos) != 1 {
			return usageErrorf("events list takes no arguments, got %q", pos[1:])
		}
		f, err := filter.filter()
		if err != nil {
			return err
		}
		req := &hooklinev1.ListEventsRequest{Filter: f, PageSize: int32(*pageSize), PageToken: *pageToken, AfterSequence: *after}
		if *pageSize < 0 || *pageSize > 1<<30 {
			return usageErrorf("--page-size %d is out of range", *pageSize)
		}
		resume := func(e uint64) string {
			return strings.Join(append([]string{"hookline events list --after", strconv.FormatUint(e, 10)}, filter.args()...), " ")
		}
		return unary(ctx, conn, stdout, "events", resume, func(ctx context.Context, c hooklinev1.EventServiceClient) (proto.Message, error) {
			list := func(req *hooklinev1.ListEventsRequest) (*hooklinev1.ListEventsResponse, error) {
				ctx, cancel := conn.rpc(ctx)
				defer cancel()
				return c.ListEvents(ctx, req)
			}
			if !*all {
				return list(req)
			}
			out := &hooklinev1.ListEventsResponse{}
			for {
				page, err := list(req)
				if err != nil {
					return nil, err
				}
				out.Events = append(out.Events, page.GetEvents()...)
				if page.GetNextPageToken() == "" {
					return out, nil
				}
				req = &hooklinev1.ListEventsRequest{Filter: f, PageSize: req.PageSize, PageToken: page.GetNextPageToken()}
			}
		})
	case "get":
		if len(pos) != 2 {
			return usageErrorf("usage: hookline events get ID")
		}
		id := pos[1]
		return unary(ctx, conn, stdout, "event "+id, nil, func(ctx context.Context, c hooklinev1.EventServiceClient) (proto.Message, error) {
			ctx, cancel := conn.rpc(ctx)
			defer cancel()
			resp, err := c.GetEvent(ctx, &hooklinev1.GetEventRequest{Id: id})
			return resp.GetEvent(), err
		})
	}
	return usageErrorf("events: unknown subcommand %q (list or get)", pos[0])
}

// runOrders is `hookline orders get`.
func runOrders(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGet(ctx, args, getenv, stdout, stderr, "orders", ordersUsage, "order", func(ctx context.Context, c hooklinev1.EventServiceClient, id string) (proto.Message, error) {
		resp, err := c.GetOrder(ctx, &hooklinev1.GetOrderRequest{OrderId: id})
		return resp.GetOrder(), err
	})
}

// runSessions is `hookline sessions get`.
func runSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGet(ctx, args, getenv, stdout, stderr, "sessions", sessionsUsage, "session", func(ctx context.Context, c hooklinev1.EventServiceClient, key string) (proto.Message, error) {
		resp, err := c.GetSession(ctx, &hooklinev1.GetSessionRequest{SessionKey: key})
		return resp.GetSession(), err
	})
}

// runGet is a `NAME get ID` command.
func runGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, name, usage, noun string,
	get func(context.Context, hooklinev1.EventServiceClient, string) (proto.Message, error)) error {
	fs := newFlagSet(name, usage, stderr)
	conn := addConnFlags(fs, getenv)
	pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "get" {
		fs.Usage()
		return usageErrorf("usage: hookline %s get %s", name, strings.ToUpper(noun)+"_ID")
	}
	id := pos[1]
	return unary(ctx, conn, stdout, noun+" "+id, nil, func(ctx context.Context, c hooklinev1.EventServiceClient) (proto.Message, error) {
		ctx, cancel := conn.rpc(ctx)
		defer cancel()
		return get(ctx, c, id)
	})
}

// unary dials, makes one call (or a few, for --all; each goes through
// conn.rpc) and prints its answer as indented protojson.
func unary(ctx context.Context, conn *connFlags, stdout io.Writer, what string, resume func(uint64) string,
	call func(context.Context, hooklinev1.EventServiceClient) (proto.Message, error)) error {
	cc, client, err := conn.dial()
	if err != nil {
		return err
	}
	defer cc.Close()
	msg, err := call(ctx, client)
	if err != nil {
		return conn.describe(err, what, resume)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
