package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCanonicalJSON: the same value written differently has one form;
// different values, even numbers past float64's precision, do not.
func TestCanonicalJSON(t *testing.T) {
	same := [][2]string{
		{`{"a":1,"b":"x"}`, ` { "b" : "x", "a" : 1 } `},
		{`{"t":"é","n":[1,2]}`, "{\"n\":[1, 2],\n\"t\":\"\\u00e9\"}"},
		{`{"o":{"y":true,"x":null}}`, `{"o":{"x":null,"y":true}}`},
	}
	for _, c := range same {
		require.Equal(t, string(canonicalJSON([]byte(c[0]))), string(canonicalJSON([]byte(c[1]))), c[0])
	}
	different := [][2]string{
		{`{"chat_id":12345678901234567890}`, `{"chat_id":12345678901234567891}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":"1"}`, `{"a":1}`},
		{`{"a":1} trailing`, `{"a":1}`},
	}
	for _, c := range different {
		require.NotEqual(t, string(canonicalJSON([]byte(c[0]))), string(canonicalJSON([]byte(c[1]))), c[0])
	}
}
