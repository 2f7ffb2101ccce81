package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
)

var _ grpclog.LoggerV2 = (*grpcLogger)(nil)

// TestGRPCLogsGoToTheLogger: grpclog's lines reach the daemon's logger as
// structured records, its errors as warn and its chatter only at debug.
func TestGRPCLogsGoToTheLogger(t *testing.T) {
	var buf bytes.Buffer
	g := &grpcLogger{}
	g.Errorf("before the logger exists") // dropped, no panic
	g.setLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	g.Errorf("Failed to send response chunk: %v", errors.New("write: broken pipe"))
	g.Infof("[core] channel state %d", 2)
	g.Warningln("[transport] retrying")
	if g.V(2) {
		t.Error("V(2) is true at info level")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one record (the error), got:\n%s", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "grpc_log" || rec["text"] != "Failed to send response chunk: write: broken pipe" {
		t.Errorf("record %v", rec)
	}

	buf.Reset()
	g.setLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	g.Infoln("[core] channel state")
	if !g.V(2) || !strings.Contains(buf.String(), `"level":"DEBUG","msg":"grpc_log","text":"[core] channel state"`) {
		t.Errorf("at debug level: V(2) %v, log %s", g.V(2), buf.String())
	}
}
