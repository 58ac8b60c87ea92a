package receiver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"
	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// Login is the `receiver login` subcommand for user-account mode: it asks
// for the phone number, the login code and, when the account has one, the
// 2FA password on in/out (a terminal), and saves the authorized session in
// DATA_DIR for Run to use. Nothing it reads is logged.
func Login(ctx context.Context, cfg Config, log *zap.Logger, in io.Reader, out io.Writer) error {
	for _, v := range []interface{ Validate() error }{&cfg.Telegram, &cfg.DataDir} {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	path := tgclient.SessionFile(cfg.Path, SessionName)
	client, err := tgclient.New(cfg.Telegram, tgclient.Options{SessionPath: path, Logger: log.Named("telegram"), NoUpdates: true, RetryInterval: cfg.TGRetry})
	if err != nil {
		return err
	}
	term := &terminalAuth{r: bufio.NewReader(in), w: out}
	return client.Run(ctx, func(ctx context.Context) error {
		flow := auth.NewFlow(term, auth.SendCodeOptions{})
		if err := client.Auth().IfNecessary(ctx, flow); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		self, err := client.Self(ctx)
		if err != nil {
			return fmt.Errorf("get self: %w", err)
		}
		fmt.Fprintf(out, "Logged in as %s (id %d). Session saved in %s.\n", strings.TrimSpace(self.FirstName+" "+self.LastName), self.ID, path)
		return nil
	})
}

// terminalAuth asks for the phone number, code and 2FA password.
type terminalAuth struct {
	r *bufio.Reader
	w io.Writer
}

func (t *terminalAuth) ask(prompt string) (string, error) {
	fmt.Fprint(t.w, prompt)
	line, err := t.r.ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(prompt, ": "), err)
	}
	return line, nil
}

// Phone implements auth.UserAuthenticator.
func (t *terminalAuth) Phone(context.Context) (string, error) { return t.ask("Phone number: ") }

// Password implements auth.UserAuthenticator.
func (t *terminalAuth) Password(context.Context) (string, error) {
	return t.ask("2FA password: ")
}

// Code implements auth.UserAuthenticator.
func (t *terminalAuth) Code(context.Context, *tg.AuthSentCode) (string, error) {
	return t.ask("Login code: ")
}

// AcceptTermsOfService implements auth.UserAuthenticator.
func (t *terminalAuth) AcceptTermsOfService(context.Context, tg.HelpTermsOfService) error {
	return nil
}

// SignUp implements auth.UserAuthenticator: the account must exist.
func (t *terminalAuth) SignUp(context.Context) (auth.UserInfo, error) {
	return auth.UserInfo{}, errors.New("this phone number has no Telegram account; sign up with an official app first")
}
