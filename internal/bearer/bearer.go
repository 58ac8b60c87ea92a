// Package bearer checks "Authorization: Bearer <token>" against a set of
// accepted tokens. Only SHA-256 digests of the tokens are kept and compared,
// in constant time over the whole set, so neither a token's length nor a
// matching prefix nor which token matched leaks through timing.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Digest is the SHA-256 of a token.
type Digest [sha256.Size]byte

// Tokens is a set of accepted tokens. The zero value accepts nothing.
type Tokens struct {
	sums []Digest
}

// New returns the set of tokens; empty strings are ignored.
func New(tokens ...string) Tokens {
	var t Tokens
	for _, tok := range tokens {
		if tok != "" {
			t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Empty reports whether no token is accepted.
func (t Tokens) Empty() bool { return len(t.sums) == 0 }

// Check returns the digest of r's bearer token and whether it is one of t.
// The scheme is matched as "Bearer" or "bearer"; spaces around the token
// are ignored.
func (t Tokens) Check(r *http.Request) (Digest, bool) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		token, ok = strings.CutPrefix(h, "bearer ")
	}
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return Digest{}, false
	}
	sum := Digest(sha256.Sum256([]byte(token)))
	match := 0
	for i := range t.sums {
		match |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return sum, match == 1
}
