package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Defaults of the client flags.
const (
	// DefaultAddr is the gRPC address the commands dial: the gateway's
	// default --grpc-addr.
	DefaultAddr = "127.0.0.1:9090"
	// DefaultTimeout bounds each unary call, and the wait for the first
	// frame of each tail connection.
	DefaultTimeout = 10 * time.Second
	// maxRecvMsgSize lets a page or an event of a gateway with a raised
	// --max-body-bytes through (gRPC's default is 4 MiB).
	maxRecvMsgSize = 64 << 20
)

// connFlags are the flags every command that talks gRPC shares.
type connFlags struct {
	addr, token, ca string
	tls             bool
	timeout         time.Duration
}

// addConnFlags registers the connection flags; HOOKLINE_ADDR and
// HOOKLINE_TOKEN set their defaults (a flag given on the command line
// wins).
func addConnFlags(fs *flag.FlagSet, getenv func(string) string) *connFlags {
	c := &connFlags{}
	fs.StringVar(&c.addr, "addr", DefaultAddr, "gRPC address of the gateway [$HOOKLINE_ADDR]")
	fs.StringVar(&c.token, "token", "", "read API token, sent as `authorization: Bearer TOKEN` [$HOOKLINE_TOKEN]")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS, trusting the system's roots (or --ca)")
	fs.StringVar(&c.ca, "ca", "", "PEM `file` of the CA that signed the gateway's certificate; implies --tls")
	fs.DurationVar(&c.timeout, "timeout", DefaultTimeout, "time limit of each call (tail: of the wait for each connection's first frame)")
	if v := getenv("HOOKLINE_ADDR"); v != "" {
		c.addr = v
	}
	if v := getenv("HOOKLINE_TOKEN"); v != "" {
		c.token = v
	}
	return c
}

// dial returns a client of the gateway. grpc.NewClient connects lazily:
// an unreachable address shows up as the first call's error.
func (c *connFlags) dial() (*grpc.ClientConn, hooklinev1.EventServiceClient, error) {
	creds := insecure.NewCredentials()
	if c.tls || c.ca != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.ca != "" {
			pem, err := os.ReadFile(c.ca)
			if err != nil {
				return nil, nil, usageErrorf("--ca: %v", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, usageErrorf("--ca %s holds no PEM certificate", c.ca)
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		// Reconnect as tail does (gRPC's own backoff grows to 2 minutes,
		// which would hold tail back long after a restarted gateway is up).
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: tailFirstBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: tailMaxBackoff,
		}, MinConnectTimeout: DefaultTimeout}))
	if err != nil {
		return nil, nil, usageErrorf("--addr %q: %v", c.addr, err)
	}
	return conn, hooklinev1.NewEventServiceClient(conn), nil
}

// rpc returns the context of one unary call: the token in its metadata,
// and --timeout.
func (c *connFlags) rpc(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = c.outgoing(ctx)
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// outgoing adds the token to ctx's metadata.
func (c *connFlags) outgoing(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

// errorInfo returns the ErrorInfo of a status, or nil.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// describe turns an RPC error into one a person can act on, with its exit
// code. what names the thing asked for ("order X"), for NOT_FOUND; resume
// is the command line that resumes at a given cursor, for CURSOR_EXPIRED
// (nil when the call had no cursor).
func (c *connFlags) describe(err error, what string, resume func(after uint64) string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	info := errorInfo(st)
	reason := info.GetReason()
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "connection refused"):
			return fmt.Errorf("cannot reach the gateway at %s: connection refused. Is it running? Start one with `make run`, or point --addr (or HOOKLINE_ADDR) at yours", c.addr)
		case reason == "SHUTTING_DOWN":
			return fmt.Errorf("the gateway at %s is shutting down; try again when it is back", c.addr)
		case reason == "STORE_UNAVAILABLE":
			return fmt.Errorf("the gateway at %s cannot reach its store: %s", c.addr, msg)
		case !c.tls && c.ca == "" && (strings.Contains(msg, "server preface") || strings.Contains(msg, "EOF")):
			return fmt.Errorf("the gateway at %s closed the connection: %s. If it serves TLS (--tls-cert), add --tls (and --ca FILE for a private CA)", c.addr, msg)
		case (c.tls || c.ca != "") && strings.Contains(msg, "first record does not look like a TLS handshake"):
			return fmt.Errorf("the gateway at %s does not speak TLS: drop --tls and --ca", c.addr)
		case strings.Contains(msg, "certificate"):
			return fmt.Errorf("TLS with the gateway at %s failed: %s. Name the CA that signed its certificate with --ca FILE", c.addr, msg)
		}
		return fmt.Errorf("cannot reach the gateway at %s: %s", c.addr, msg)
	case codes.Unauthenticated:
		if c.token == "" {
			return fmt.Errorf("the gateway at %s wants a read API token and none was given: set HOOKLINE_TOKEN or --token to one of the gateway's tokens (its HOOKLINE_API_TOKENS or --api-tokens-file)", c.addr)
		}
		return fmt.Errorf("the gateway at %s refused the API token (from --token or HOOKLINE_TOKEN): it is not one of the gateway's tokens (its HOOKLINE_API_TOKENS or --api-tokens-file)", c.addr)
	case codes.OutOfRange:
		earliest := info.GetMetadata()["earliest_sequence"]
		switch reason {
		case "CURSOR_EXPIRED":
			var e uint64
			_, _ = fmt.Sscan(earliest, &e)
			hint := ""
			if resume != nil && e > 0 {
				hint = fmt.Sprintf("; resume with: %s (what came between is gone), or start over with --from-start", resume(e-1))
			}
			return &exitError{exitExpired, fmt.Errorf("cursor expired: the gateway no longer holds the events after it; the earliest it holds is sequence %s%s", earliest, hint)}
		case "CURSOR_AHEAD":
			return &exitError{exitUsage, fmt.Errorf("the cursor is beyond the end of the gateway's log (latest sequence %s): is this the gateway the cursor came from, and was its data dir kept?", info.GetMetadata()["latest_sequence"])}
		}
	case codes.NotFound:
		return &exitError{exitNotFound, fmt.Errorf("%s not found on the gateway at %s", what, c.addr)}
	case codes.InvalidArgument:
		return &exitError{exitUsage, fmt.Errorf("the gateway refused the request: %s", msg)}
	case codes.DeadlineExceeded:
		return fmt.Errorf("no answer from the gateway at %s within --timeout %s", c.addr, c.timeout)
	case codes.ResourceExhausted:
		if reason == "TOO_MANY_SUBSCRIPTIONS" {
			return fmt.Errorf("the gateway at %s has its maximum of %s open subscriptions; try again later", c.addr, info.GetMetadata()["limit"])
		}
	case codes.Canceled:
		return context.Canceled
	}
	return fmt.Errorf("the gateway at %s answered %s: %s", c.addr, st.Code(), msg)
}

// isRetryable reports whether a subscription that ended with err may be
// opened again: the gateway was unreachable, restarting or full.
func isRetryable(err error) bool {
	if errors.Is(err, errNoFirstFrame) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
