package receiver

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTerminalAuthReadsAnswers(t *testing.T) {
	var out bytes.Buffer
	term := &terminalAuth{r: bufio.NewReader(strings.NewReader("+15550001\n 12345 \nhunter2")), w: &out}
	ctx := context.Background()
	phone, err := term.Phone(ctx)
	require.NoError(t, err)
	require.Equal(t, "+15550001", phone)
	code, err := term.Code(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, "12345", code)
	pw, err := term.Password(ctx)
	require.NoError(t, err, "a last line without newline is accepted")
	require.Equal(t, "hunter2", pw)
	_, err = term.Phone(ctx)
	require.Error(t, err, "end of input")
	require.Equal(t, "Phone number: Login code: 2FA password: Phone number: ", out.String())
	_, err = term.SignUp(ctx)
	require.Error(t, err)
}
