package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// grpc-go and grpc-gateway report through grpclog, whose default logger
// writes plain `ERROR: …` lines to stderr beside the gateway's structured
// log (grpc-gateway, for one, when a REST stream's client goes away). The
// daemon routes them into its own logger instead: main installs grpcLogs
// before anything else runs, and run points it at the logger it builds.
//
// Levels: grpclog's info and warning lines are the library's own chatter
// (connection states, retries), which its default logger hides too; they
// become debug. Its errors are about one call or connection, not about the
// gateway, so they become warn, with the message `grpc_log`. Fatal keeps
// grpclog's meaning: it logs, then exits.
var grpcLogs = &grpcLogger{}

// grpcLogger is a grpclog.LoggerV2 writing to the logger set last with
// setLogger; before that, nowhere.
type grpcLogger struct{ target atomic.Pointer[slog.Logger] }

func (g *grpcLogger) setLogger(l *slog.Logger) { g.target.Store(l) }

func (g *grpcLogger) log(level slog.Level, msg string) {
	l := g.target.Load()
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	l.Log(context.Background(), level, "grpc_log", "text", strings.TrimSpace(msg))
}

func (g *grpcLogger) Info(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g *grpcLogger) Infoln(args ...any) { g.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g *grpcLogger) Infof(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Warning(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g *grpcLogger) Warningln(args ...any) { g.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g *grpcLogger) Warningf(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Error(args ...any)   { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g *grpcLogger) Errorln(args ...any) { g.log(slog.LevelWarn, fmt.Sprintln(args...)) }
func (g *grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Fatal(args ...any)                 { g.fatal(fmt.Sprint(args...)) }
func (g *grpcLogger) Fatalln(args ...any)               { g.fatal(fmt.Sprintln(args...)) }
func (g *grpcLogger) Fatalf(format string, args ...any) { g.fatal(fmt.Sprintf(format, args...)) }

func (g *grpcLogger) fatal(msg string) {
	g.log(slog.LevelError, msg)
	os.Exit(1)
}

// V reports whether grpc should build verbose messages: only when debug
// lines are written.
func (g *grpcLogger) V(int) bool {
	l := g.target.Load()
	return l != nil && l.Enabled(context.Background(), slog.LevelDebug)
}
