// Command demo runs the whole loop offline on loopback: the Telegram
// emulator (tgemu), the receiver, the sender and the example downstream
// service as child processes, then plays a scripted conversation through
// them and prints the transcript: /familiarize with a bad and a good name,
// the signed user.create at the downstream, a text the downstream answers
// through the sender's REST API, a document uploaded once and sent by ID, and
// an event the downstream fails on purpose, dead-lettered by the receiver,
// replayed through its admin API and answered.
//
// Afterwards it keeps the services running and prints the shell variables
// the README's examples use (tokens, user ID, URLs) and curl lines to talk to
// them, until Ctrl-C; with DEMO_ONCE=1 it exits after the script, with
// status 0 only if every step passed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
	"github.com/tgbotsvc/tgbot/internal/config"
)

// Config is the demo's environment. Ports that are busy are replaced by free
// ones (printed); 0 means any free port.
type Config struct {
	Once           bool          `env:"DEMO_ONCE" usage:"exit after the scripted round trip: status 0 only if every step passed"`
	BinDir         string        `env:"DEMO_BIN_DIR" envDefault:"./bin" usage:"directory with the tgemu, receiver, sender and downstream binaries"`
	DataDir        string        `env:"DEMO_DATA_DIR" envDefault:"./demo-data" usage:"each run makes a fresh run-* directory here for data and logs"`
	EmuMTProtoPort int           `env:"DEMO_TGEMU_MTPROTO_PORT" envDefault:"9443" usage:"emulator MTProto port"`
	EmuHTTPPort    int           `env:"DEMO_TGEMU_HTTP_PORT" envDefault:"9080" usage:"emulator control API port"`
	ReceiverPort   int           `env:"DEMO_RECEIVER_PORT" envDefault:"8002" usage:"receiver port (/healthz, /metrics)"`
	SenderPort     int           `env:"DEMO_SENDER_PORT" envDefault:"8001" usage:"sender REST API port"`
	DownstreamPort int           `env:"DEMO_DOWNSTREAM_PORT" envDefault:"8003" usage:"example downstream port"`
	StartTimeout   time.Duration `env:"DEMO_START_TIMEOUT" envDefault:"30s" usage:"how long each service may take to become ready"`
	StepTimeout    time.Duration `env:"DEMO_STEP_TIMEOUT" envDefault:"20s" usage:"how long each step of the script may take"`
	UserName       string        `env:"DEMO_USER_NAME" envDefault:"Alice" usage:"the emulated user's name"`
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	for name, p := range map[string]int{
		"DEMO_TGEMU_MTPROTO_PORT": c.EmuMTProtoPort, "DEMO_TGEMU_HTTP_PORT": c.EmuHTTPPort,
		"DEMO_RECEIVER_PORT": c.ReceiverPort, "DEMO_SENDER_PORT": c.SenderPort, "DEMO_DOWNSTREAM_PORT": c.DownstreamPort,
	} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%s: %d is not a port", name, p)
		}
	}
	if c.StartTimeout <= 0 || c.StepTimeout <= 0 {
		return errors.New("DEMO_START_TIMEOUT and DEMO_STEP_TIMEOUT: must be positive")
	}
	if c.UserName == "" {
		return errors.New("DEMO_USER_NAME: must not be empty")
	}
	return nil
}

const about = "runs the emulator, receiver, sender and example downstream on loopback and plays a scripted conversation"

func main() {
	buildinfo.Main("demo", about, &Config{}, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		cfg, err := config.Load[Config]()
		if err != nil {
			return err
		}
		return run(ctx, cfg, os.Stdout)
	})
}

// run starts the services, plays the script and, unless cfg.Once, keeps the
// services up until ctx is done. It always stops the services it started.
func run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	s, err := newStack(cfg, out)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := s.stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("clean shutdown: %w", stopErr)
		}
	}()
	fmt.Fprintln(out, "starting the services (loopback only):")
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	sc := &script{s: s, out: out}
	if err := sc.play(ctx); err != nil {
		s.printLogTails(out)
		return err
	}
	if cfg.Once {
		return nil
	}
	s.printHowTo(out, sc)
	return s.watch(ctx)
}

// printLogTails shows the end of each service's log after a failure.
func (s *stack) printLogTails(out io.Writer) {
	for _, p := range s.procs {
		fmt.Fprintf(out, "\n--- last lines of %s ---\n%s\n", p.LogPath, p.Tail(8))
	}
}

// howToCommands are the first commands printed after the script; the
// README's demo section shows the same lines (a test checks it).
const howToCommands = `# the bot sends a message (sender REST API; Swagger UI: $SENDER/docs)
curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"chat_id": '$USER_ID', "text": "Hi from curl"}' $SENDER/api_v1/send_message
# the user writes to the bot (emulator control API); the downstream answers it
curl -s -d '{"text": "Hello bot"}' $EMU/v1/users/$USER_ID/messages
# read the chat, oldest first ("out": true = sent by the bot)
curl -s $EMU/v1/users/$USER_ID/messages
# what the downstream received and did
curl -s $DOWNSTREAM/state
# the receiver's and the sender's metrics
curl -s $RECEIVER/metrics | grep '^receiver_events'; curl -s $SENDER/metrics | grep '^sender_messages'
`

// shellVars are the shell variables the README's examples use, as printed
// after the script.
func (s *stack) shellVars(sc *script) [][2]string {
	return [][2]string{
		{"TOKEN", s.apiToken},
		{"ADMIN", s.adminToken},
		{"USER_ID", strconv.FormatInt(sc.userID, 10)},
		{"USERNAME", sc.user},
		{"BOT_ID", strconv.Itoa(demoBotID)},
		{"SENDER", "http://" + s.addr.sender},
		{"RECEIVER", "http://" + s.addr.receiver},
		{"EMU", "http://" + s.addr.emuHTTP},
		{"DOWNSTREAM", "http://" + s.addr.downstream},
	}
}

// shellQuote returns v as one shell word: as it is when it only has safe
// characters, else in single quotes.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/@") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// printHowTo prints the shell variables of this run and commands that use
// them, as the README's examples do.
func (s *stack) printHowTo(out io.Writer, sc *script) {
	fmt.Fprintf(out, "\nThe services keep running (Ctrl-C stops everything). Chat with the bot in a browser: http://%s/\n", s.addr.emuHTTP)
	fmt.Fprintln(out, "\nPaste these lines into a shell (bash or sh); the README's examples use them:")
	fmt.Fprintln(out)
	for _, v := range s.shellVars(sc) {
		fmt.Fprintf(out, "%s=%s\n", v[0], shellQuote(v[1]))
	}
	fmt.Fprintf(out, "\nThen try:\n\n%s\nLogs: %s/logs\n", howToCommands, s.dir)
}
