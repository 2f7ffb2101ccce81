package adapters

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"sync"
)

// maxSignatureHex bounds the length of a signature header value we decode, so
// an attacker cannot make us decode a huge header.
const maxSignatureHex = 256

// DecodeHexSignature trims surrounding whitespace and decodes a hex digest,
// accepting upper and lower case. It reports false for anything that is not
// exactly a SHA-256 digest in hex.
func DecodeHexSignature(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 2*sha256.Size || len(s) > maxSignatureHex {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

// HMACSHA256 returns HMAC-SHA256(key, body).
func HMACSHA256(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// VerifyHMACSHA256 reports whether sig equals HMAC-SHA256(secret, body) for
// any of the secrets. Every secret is tried, so the time taken does not
// reveal which one matched; each comparison is constant-time. Adapters
// verify through HMACKeys, which keeps the keyed hashes between deliveries.
func VerifyHMACSHA256(body, sig []byte, secrets [][]byte) bool {
	return NewHMACKeys(secrets).Verify(body, sig)
}

// HMACKeys verifies HMAC-SHA256 signatures under a fixed set of secrets. It
// keeps each secret's keyed hash in a pool, so a delivery costs neither
// the key schedule nor the hashes' allocation. It is safe for concurrent
// use.
type HMACKeys struct {
	pools []*sync.Pool // one per secret, of hash.Hash keyed with it
}

// NewHMACKeys returns the verifier for secrets (copied).
func NewHMACKeys(secrets [][]byte) *HMACKeys {
	k := &HMACKeys{}
	for _, s := range secrets {
		key := append([]byte(nil), s...)
		k.pools = append(k.pools, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return k
}

// Verify reports whether sig equals HMAC-SHA256(secret, body) for any of
// the secrets, trying every one (see VerifyHMACSHA256).
func (k *HMACKeys) Verify(body, sig []byte) bool {
	ok := 0
	var sum [sha256.Size]byte
	for _, p := range k.pools {
		m := p.Get().(hash.Hash)
		m.Reset()
		m.Write(body)
		ok |= subtle.ConstantTimeCompare(m.Sum(sum[:0]), sig)
		p.Put(m)
	}
	return ok == 1
}

// VerifyStatic reports whether got equals any of the secrets, comparing in
// constant time over a digest of each so that lengths are not revealed.
func VerifyStatic(got string, secrets [][]byte) bool {
	if got == "" {
		return false
	}
	g := sha256.Sum256([]byte(got))
	ok := 0
	for _, s := range secrets {
		w := sha256.Sum256(s)
		ok |= subtle.ConstantTimeCompare(g[:], w[:])
	}
	return ok == 1
}

// VerifyStaticHeader checks a static credential: the delivery must carry
// exactly one header name whose whole value equals one of the secrets
// (VerifyStatic). It returns an error wrapping ErrUnauthenticated that says
// what was wrong, never the value.
func VerifyStaticHeader(h http.Header, name string, secrets [][]byte) error {
	values := h.Values(name)
	switch {
	case len(values) == 0 || values[0] == "":
		return Errorf(ErrUnauthenticated, "missing %s header", name)
	case len(values) > 1:
		return Errorf(ErrUnauthenticated, "more than one %s header", name)
	case !VerifyStatic(values[0], secrets):
		return Errorf(ErrUnauthenticated, "%s header does not match", name)
	}
	return nil
}
