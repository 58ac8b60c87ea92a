// Command demo runs the whole loop offline on loopback: the Telegram
// emulator (tgemu), the receiver, the sender and the example downstream
// service as child processes, then plays a scripted conversation through
// them and prints the transcript: /familiarize with a bad and a good name,
// the signed user.create at the downstream, a text the downstream answers
// through the sender's REST API, and a document uploaded once and sent by ID.
//
// Afterwards it keeps the services running and prints curl lines to talk to
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
	s.printHowTo(out, sc.userID)
	return s.watch(ctx)
}

// printLogTails shows the end of each service's log after a failure.
func (s *stack) printLogTails(out io.Writer) {
	for _, p := range s.procs {
		fmt.Fprintf(out, "\n--- last lines of %s ---\n%s\n", p.LogPath, p.Tail(8))
	}
}

// printHowTo prints curl lines to talk to the running services.
func (s *stack) printHowTo(out io.Writer, userID int64) {
	fmt.Fprintf(out, `
The services keep running. Try (Ctrl-C stops everything):

  # the bot sends a message (sender REST API; Swagger UI: http://%[1]s/docs)
  curl -s -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"chat_id": %[3]d, "text": "Hi from curl"}' http://%[1]s/api_v1/send_message

  # the user writes to the bot (emulator control API); the downstream answers it
  curl -s -H 'Content-Type: application/json' -d '{"text": "Hello bot"}' http://%[4]s/v1/users/%[3]d/messages

  # read the chat, oldest first ("out": true = sent by the bot)
  curl -s http://%[4]s/v1/users/%[3]d/messages

  # what the downstream received and did
  curl -s http://%[5]s/state

  # the receiver's and the sender's metrics
  curl -s http://%[6]s/metrics | grep '^receiver_events'; curl -s http://%[1]s/metrics | grep '^sender_messages'

Logs: %[7]s/logs
`, s.addr.sender, s.apiToken, userID, s.addr.emuHTTP, s.addr.downstream, s.addr.receiver, s.dir)
}
