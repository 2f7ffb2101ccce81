package server

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// TestReflectionAndHealth backs the README's and docs/api.md's grpcurl examples: reflection
// lists the service (so grpcurl needs no proto files) and the standard
// health service answers SERVING once the index is ready.
func TestReflectionAndHealth(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	h, err := healthpb.NewHealthClient(e.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "hookline.v1.EventService"})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"hookline.v1.EventService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

// TestKeepaliveEnforcement speaks raw HTTP/2 to the gRPC port, because
// grpc-go clients never ping more often than every 10 s: one ping on a
// connection without streams is answered, but pinging again and again
// within 10 s ends the connection with GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings", as docs/api.md says.
func TestKeepaliveEnforcement(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.conn.Target(), "passthrough:///"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	acked, sent := false, 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY after %d pings: %v", sent, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
				if err := fr.WritePing(false, [8]byte{1}); err != nil {
					t.Fatal(err)
				}
				sent++
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				continue
			}
			acked = true
			// Four more, 50 ms apart: more often than every 10 s, but far
			// apart enough that only the 10 s floor can refuse them.
			for range 4 {
				time.Sleep(50 * time.Millisecond)
				sent++
				if err := fr.WritePing(false, [8]byte{byte(sent)}); err != nil {
					if sent > 2 {
						break // the server may close as soon as it has sent GOAWAY
					}
					t.Fatal(err)
				}
			}
		case *http2.GoAwayFrame:
			if !acked {
				t.Error("the first ping was not answered")
			}
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm || string(f.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", f.ErrCode, f.DebugData())
			}
			return
		}
	}
}
