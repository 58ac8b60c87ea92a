package deployments

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// composeFiles are the files of the offline stack, in the order
// docker-compose -f ... -f ... merges them.
var composeFiles = []string{"../docker-compose.yml", "docker-compose.offline.yml"}

// startOrder is the order of depends_on: the emulator first.
var startOrder = []string{"tgemu", "sender", "downstream", "receiver"}

// binaryPackage is the package each service's image builds.
var binaryPackage = map[string]string{
	"tgemu": "./cmd/tgemu", "sender": "./cmd/sender", "receiver": "./cmd/receiver", "downstream": "./examples/downstream",
}

// listenVars hold a service's own listen address ("[host]:port").
var listenVars = map[string]bool{
	"TGEMU_MTPROTO_ADDR": true, "TGEMU_HTTP_ADDR": true, "RECEIVER_ADDR": true, "SENDER_ADDR": true, "DOWNSTREAM_ADDR": true,
}

// service is one service of the merged compose files, made runnable as a
// local process.
type service struct {
	name    string
	env     map[string]string
	ports   map[string]string // host port -> container port
	volumes map[string]string // mount point -> volume name
	health  string            // the healthcheck's URL
}

// readDotEnv reads KEY=VALUE lines (the .env that docker-compose reads).
func readDotEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		vars[k] = v
	}
	require.NoError(t, sc.Err())
	return vars
}

var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::-([^}]*))?\}`)

// interpolate expands ${NAME} and ${NAME:-default} from vars, as compose does.
func interpolate(t *testing.T, v string, vars map[string]string) string {
	t.Helper()
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		sub := composeVar.FindStringSubmatch(m)
		if val, ok := vars[sub[1]]; ok && val != "" {
			return val
		}
		require.Contains(t, m, ":-", "compose variable %s is not in .env.example", sub[1])
		return sub[2]
	})
}

// mergedServices merges the compose files the way docker-compose does for
// what the processes need: env_file below environment, later files winning,
// volumes by mount point, ports added.
func mergedServices(t *testing.T, dotEnv map[string]string) map[string]*service {
	t.Helper()
	out := map[string]*service{}
	for _, path := range composeFiles {
		for name, s := range load(t, path).Services {
			svc := out[name]
			if svc == nil {
				svc = &service{name: name, env: map[string]string{}, ports: map[string]string{}, volumes: map[string]string{}}
				out[name] = svc
			}
			if s.EnvFile != nil {
				require.Equal(t, ".env", s.EnvFile, "%s: env_file", name)
				for k, v := range dotEnv {
					if _, set := svc.env[k]; !set {
						svc.env[k] = v
					}
				}
			}
			for k, v := range s.Environment {
				svc.env[k] = interpolate(t, v, dotEnv)
			}
			for _, p := range s.Ports {
				host, container, ok := strings.Cut(p, ":")
				require.True(t, ok, "%s: port %q", name, p)
				svc.ports[host] = container
			}
			for _, v := range s.Volumes {
				parts := strings.Split(v, ":")
				require.GreaterOrEqual(t, len(parts), 2, "%s: volume %q", name, v)
				svc.volumes[parts[1]] = parts[0]
			}
			if s.Healthcheck != nil {
				svc.health = s.Healthcheck.Test[len(s.Healthcheck.Test)-1]
			}
		}
	}
	return out
}

// localizer maps the containers' network onto loopback: each (service,
// container port) gets a free 127.0.0.1 port, each named volume a directory.
type localizer struct {
	t     *testing.T
	addrs map[string]string // "service:port" -> 127.0.0.1:free
	dirs  map[string]string // volume -> directory
	root  string
}

func (l *localizer) addr(svc, port string) string {
	key := svc + ":" + port
	if a, ok := l.addrs[key]; ok {
		return a
	}
	a, err := procrun.FreeAddr()
	require.NoError(l.t, err)
	l.addrs[key] = a
	return a
}

func (l *localizer) dir(volume string) string {
	if d, ok := l.dirs[volume]; ok {
		return d
	}
	d := filepath.Join(l.root, volume)
	require.NoError(l.t, os.MkdirAll(d, 0o700))
	l.dirs[volume] = d
	return d
}

var serviceRef = regexp.MustCompile(`\b(tgemu|downstream|receiver|sender):(\d+)\b`)

// env returns svc's environment with container addresses and paths made
// local. Every path must lie on one of its volumes.
func (l *localizer) env(svc *service) []string {
	var env []string
	for k, v := range svc.env {
		switch {
		case listenVars[k]:
			host, port, err := net.SplitHostPort(v)
			require.NoError(l.t, err, "%s: %s=%q", svc.name, k, v)
			require.Contains(l.t, []string{"", "0.0.0.0"}, host, "%s: %s listens on all interfaces in a container", svc.name, k)
			v = l.addr(svc.name, port)
		case strings.HasPrefix(v, "/"):
			local := ""
			for mount, volume := range svc.volumes {
				if v == mount || strings.HasPrefix(v, mount+"/") {
					local = l.dir(volume) + strings.TrimPrefix(v, mount)
				}
			}
			require.NotEmpty(l.t, local, "%s: %s=%s is on no volume of the service", svc.name, k, v)
			v = local
		default:
			v = serviceRef.ReplaceAllStringFunc(v, func(m string) string {
				s := serviceRef.FindStringSubmatch(m)
				return l.addr(s[1], s[2])
			})
		}
		env = append(env, k+"="+v)
	}
	return env
}

// buildBinaries builds the services into dir, as their images do.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
	for _, name := range startOrder {
		args = append(args, binaryPackage[name])
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	for name, pkg := range binaryPackage {
		if base := filepath.Base(pkg); base != name {
			require.NoError(t, os.Rename(filepath.Join(dir, base), filepath.Join(dir, name)))
		}
	}
}

// headerSteps returns the shell lines of the offline file's header that
// follow its "docker-compose ... up" line.
func headerSteps(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("docker-compose.offline.yml")
	require.NoError(t, err)
	var steps []string
	up := false
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		cmd, ok := strings.CutPrefix(line, "#   ")
		switch {
		case !ok:
		case strings.Contains(cmd, "docker-compose") && strings.Contains(cmd, " up"):
			up = true
		case up:
			steps = append(steps, cmd)
		}
	}
	return steps
}

// TestComposeOfflineSteps starts the offline stack's services as processes,
// each with the environment the compose files give it (the .env being
// .env.example, as the header says to copy it), its volumes as directories
// and its ports on free loopback ports, then runs the header's steps with
// bash and curl: the user is created and writes /familiarize, the downstream
// gets the event, and the sender's message reaches the user.
func TestComposeOfflineSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes (go test -short skips it)")
	}
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is required to run the compose file's steps (apt-get install curl)")
	steps := headerSteps(t)
	require.Len(t, steps, 4, "create a user, /familiarize, the downstream's state, a message from the sender")

	services := mergedServices(t, readDotEnv(t, "../.env.example"))
	for _, name := range startOrder {
		require.Contains(t, services, name)
	}
	require.Len(t, services, len(startOrder))

	bin := t.TempDir()
	buildBinaries(t, bin)
	loc := &localizer{t: t, addrs: map[string]string{}, dirs: map[string]string{}, root: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startServices(t, ctx, services, loc, bin)
	sh := newStepRunner(t, ctx, curl, services, loc)

	var user struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(sh.run(steps[0])), &user))
	require.NotZero(t, user.ID)
	id := fmt.Sprint(user.ID)
	sh.run(strings.ReplaceAll(steps[1], "<id>", id))
	// The downstream gets the event (delivery is asynchronous).
	eventually(t, 30*time.Second, func() (bool, string) {
		var state struct {
			Events []struct {
				Type   string `json:"type"`
				ChatID int64  `json:"chat_id"`
				Text   string `json:"text"`
			} `json:"events"`
		}
		require.NoError(t, json.Unmarshal([]byte(sh.run(steps[2])), &state))
		for _, e := range state.Events {
			if e.Type == "message" && e.ChatID == user.ID && e.Text == "/familiarize" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("the downstream got no /familiarize event: %+v", state)
	})
	sh.run(strings.ReplaceAll(steps[3], "<id>", id))

	emu := "http://" + sh.published["9080"]
	eventually(t, 30*time.Second, func() (bool, string) {
		var chat struct {
			Messages []struct {
				Out  bool   `json:"out"`
				Text string `json:"text"`
			} `json:"messages"`
		}
		require.NoError(t, procrun.DoJSON(ctx, http.DefaultClient, http.MethodGet, emu+"/v1/users/"+id+"/messages", "", nil, &chat))
		got := map[string]bool{}
		for _, m := range chat.Messages {
			got[m.Text] = got[m.Text] || m.Out
		}
		return got["What is your name?"] && got["Hi from compose"], fmt.Sprintf("bot messages in the chat: %+v", chat.Messages)
	})
}

// eventually calls cond every 200 ms until it is true, failing t with its
// last message after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		require.True(t, time.Now().Before(deadline), why)
		time.Sleep(200 * time.Millisecond)
	}
}

// startServices starts the services in startOrder, each ready before the
// next, and stops them (in reverse) when t ends.
func startServices(t *testing.T, ctx context.Context, services map[string]*service, loc *localizer, bin string) {
	t.Helper()
	logs := t.TempDir()
	var procs []*procrun.Process
	t.Cleanup(func() {
		for i := len(procs) - 1; i >= 0; i-- {
			require.NoError(t, procs[i].Stop(10*time.Second), procs[i].Name)
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("--- %s ---\n%s", p.Name, p.Tail(20))
			}
		}
	})
	for _, name := range startOrder {
		svc := services[name]
		env := loc.env(svc)
		p, err := procrun.Start(name, filepath.Join(bin, name), env, logs)
		require.NoError(t, err)
		procs = append(procs, p)
		for _, u := range readyURLs(svc, loc) {
			_, err := p.WaitReady(ctx, u, 30*time.Second)
			require.NoError(t, err, "%s with the compose environment:\n%s", name, strings.Join(env, "\n"))
		}
	}
}

// readyURLs are the healthcheck's URL (or /healthz of the published port)
// and, for the services logged in to Telegram, /readyz.
func readyURLs(svc *service, loc *localizer) []string {
	var ready []string
	if svc.health != "" {
		ready = append(ready, regexp.MustCompile(`127\.0\.0\.1:(\d+)`).ReplaceAllStringFunc(svc.health, func(m string) string {
			return loc.addr(svc.name, strings.TrimPrefix(m, "127.0.0.1:"))
		}))
	} else {
		for _, container := range svc.ports {
			ready = append(ready, "http://"+loc.addr(svc.name, container)+"/healthz")
		}
	}
	if svc.name == "sender" || svc.name == "receiver" {
		ready = append(ready, strings.Replace(ready[0], "/healthz", "/readyz", 1))
	}
	return ready
}

// stepRunner runs the header's shell lines with bash in a directory with the
// .env, localhost's published ports pointing at the local services, and curl
// failing on HTTP errors.
type stepRunner struct {
	t         *testing.T
	ctx       context.Context
	work      string
	path      string
	published map[string]string // published port -> local address
}

func newStepRunner(t *testing.T, ctx context.Context, curl string, services map[string]*service, loc *localizer) *stepRunner {
	t.Helper()
	r := &stepRunner{t: t, ctx: ctx, work: t.TempDir(), published: map[string]string{}}
	for name, svc := range services {
		for host, container := range svc.ports {
			r.published[host] = loc.addr(name, container)
		}
	}
	envFile, err := os.ReadFile("../.env.example")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(r.work, ".env"), envFile, 0o600))
	wrap := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s --fail-with-body -sS --max-time 20 \"$@\"\n", curl)
	require.NoError(t, os.WriteFile(filepath.Join(wrap, "curl"), []byte(wrapper), 0o700))
	r.path = wrap + string(os.PathListSeparator) + os.Getenv("PATH")
	return r
}

var localhostURL = regexp.MustCompile(`http://localhost:(\d+)`)

// run runs one step and returns its output; a failure fails the test.
func (r *stepRunner) run(step string) string {
	r.t.Helper()
	step = localhostURL.ReplaceAllStringFunc(step, func(m string) string {
		a, ok := r.published[strings.TrimPrefix(m, "http://localhost:")]
		require.True(r.t, ok, "%s is no published port", m)
		return "http://" + a
	})
	cmd := exec.CommandContext(r.ctx, "bash", "-euo", "pipefail", "-c", step)
	cmd.Dir = r.work
	cmd.Env = append(os.Environ(), "PATH="+r.path)
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "%s\n%s", step, out)
	r.t.Logf("%s\n%s", step, out)
	return string(out)
}
