package bearer

import (
	"crypto/sha256"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	set := New("first-token-0123", "", "second-token-456")
	require.False(t, set.Empty())
	require.True(t, New().Empty())
	require.True(t, New("").Empty())
	for _, tc := range []struct {
		name   string
		header string
		ok     bool
		want   string
	}{
		{"first", "Bearer first-token-0123", true, "first-token-0123"},
		{"second", "Bearer second-token-456", true, "second-token-456"},
		{"lower-case scheme", "bearer second-token-456", true, "second-token-456"},
		{"spaces", "Bearer  first-token-0123 ", true, "first-token-0123"},
		{"missing", "", false, ""},
		{"empty token", "Bearer ", false, ""},
		{"other scheme", "Basic first-token-0123", false, ""},
		{"wrong", "Bearer first-token-0124", false, ""},
		{"prefix", "Bearer first-token", false, ""},
		{"empty set's ignored entry", "Bearer  ", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			sum, ok := set.Check(r)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, Digest(sha256.Sum256([]byte(tc.want))), sum)
			}
			_, ok = Tokens{}.Check(r)
			require.False(t, ok, "the zero value accepts nothing")
		})
	}
}
