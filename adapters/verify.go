package adapters

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
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
// reveal which one matched; each comparison is constant-time.
func VerifyHMACSHA256(body, sig []byte, secrets [][]byte) bool {
	ok := 0
	for _, s := range secrets {
		ok |= subtle.ConstantTimeCompare(HMACSHA256(s, body), sig)
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
