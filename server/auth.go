package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Read API authentication.
//
// The read API (EventService over gRPC, its REST mapping and SSE) hands out
// every stored event with its raw body, personal data included. With API
// tokens configured, each call must carry `Authorization: Bearer <token>`
// (gRPC metadata `authorization`), matched in constant time against every
// configured token, so tokens can be rotated by configuring the old and the
// new one together. Health, reflection, readiness, metrics and the OpenAPI
// document stay open; webhooks have their own per-source authentication.

// eventServicePrefix is the full-method prefix of the calls that need a token.
const eventServicePrefix = "/hookline.v1.EventService/"

// apiAuth checks bearer tokens; with no tokens it admits everyone. It
// counts the calls it refuses.
type apiAuth struct {
	tokens  [][]byte
	refused atomic.Int64
}

func newAPIAuth(tokens []string) *apiAuth {
	a := &apiAuth{}
	for _, t := range tokens {
		if t != "" {
			a.tokens = append(a.tokens, []byte(t))
		}
	}
	return a
}

func (a *apiAuth) enabled() bool { return len(a.tokens) > 0 }

// admits reports whether an Authorization value carries a configured token.
func (a *apiAuth) admits(authorization string) bool {
	if !a.enabled() {
		return true
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	match := 0
	for _, t := range a.tokens {
		match |= subtle.ConstantTimeCompare(t, []byte(tok))
	}
	return match == 1
}

// adminServicePrefix is the full-method prefix of the calls that need an
// admin token. The admin API has no open mode: without admin tokens it
// refuses every call.
const adminServicePrefix = "/hookline.v1.AdminService/"

func (s *Server) checkToken(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get("authorization")
	switch {
	case strings.HasPrefix(method, adminServicePrefix):
		if len(got) == 1 && s.admin.enabled() && s.admin.admits(got[0]) {
			return nil
		}
		s.admin.refused.Add(1)
		return toStatus(ctx, s.logger, s.adminRefusal())
	case !s.auth.enabled() || !strings.HasPrefix(method, eventServicePrefix):
		return nil
	case len(got) == 1 && s.auth.admits(got[0]):
		return nil
	}
	s.auth.refused.Add(1)
	return toStatus(ctx, s.logger, errUnauthenticated)
}

// adminRefusal says why an admin call was refused.
func (s *Server) adminRefusal() error {
	if !s.admin.enabled() {
		return errAdminDisabled
	}
	return errAdminUnauthenticated
}

// requireAdminToken guards the HTTP side of the admin API.
func (s *Server) requireAdminToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Values("Authorization"); len(v) != 1 || !s.admin.enabled() || !s.admin.admits(v[0]) {
			s.admin.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookline-admin"`)
			s.writeAPIError(w, r, s.adminRefusal())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := s.checkToken(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if err := s.checkToken(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return next(srv, ss)
}

// requireToken guards the HTTP side of the read API (REST and SSE) the same
// way, before any work is done.
func (s *Server) requireToken(next http.Handler) http.Handler {
	if !s.auth.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Values("Authorization"); len(v) != 1 || !s.auth.admits(v[0]) {
			s.auth.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookline"`)
			s.writeAPIError(w, r, errUnauthenticated)
			return
		}
		next.ServeHTTP(w, r)
	})
}
