// Package deployments holds the compose files, Prometheus config and Grafana
// dashboard; its tests check them without a Docker engine.
package deployments

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string            `json:"context"`
			Dockerfile string            `json:"dockerfile"`
			Args       map[string]string `json:"args"`
		} `json:"build"`
		EnvFile     any               `json:"env_file"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		Volumes     []string          `json:"volumes"`
		Restart     string            `json:"restart"`
		Healthcheck *struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
	} `json:"services"`
	Volumes map[string]any `json:"volumes"`
}

func load(t *testing.T, path string) composeFile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(data, &c), path)
	return c
}

func TestComposeServices(t *testing.T) {
	c := load(t, "../docker-compose.yml")
	for name, port := range map[string]string{"receiver": "8002", "sender": "8001"} {
		s, ok := c.Services[name]
		require.True(t, ok, "service %s", name)
		require.NotNil(t, s.Build, name)
		require.Equal(t, "Dockerfile."+name, s.Build.Dockerfile)
		require.FileExists(t, filepath.Join("..", s.Build.Dockerfile))
		require.Equal(t, ".env", s.EnvFile, name)
		require.Equal(t, "unless-stopped", s.Restart, name)
		require.Contains(t, s.Ports, port+":"+port, name)
		require.Equal(t, "/data", s.Environment["DATA_DIR"], name)
		require.NotNil(t, s.Healthcheck, name)
		require.Contains(t, strings.Join(s.Healthcheck.Test, " "), ":"+port+"/healthz")
		require.Len(t, s.Volumes, 1, name)
		vol := strings.SplitN(s.Volumes[0], ":", 2)[0]
		require.Contains(t, c.Volumes, vol, "named volume of %s", name)
	}
}

func TestComposeOffline(t *testing.T) {
	c := load(t, "docker-compose.offline.yml")
	for _, name := range []string{"tgemu", "downstream", "receiver", "sender"} {
		require.Contains(t, c.Services, name)
	}
	for _, name := range []string{"receiver", "sender"} {
		env := c.Services[name].Environment
		require.Equal(t, "tgemu:9443", env["TG_DC_ADDR"], name)
		require.NotEmpty(t, env["TG_PUBLIC_KEY_FILE"], name)
	}
	require.Equal(t, "http://downstream:8003/events", c.Services["receiver"].Environment["DRIVER_HTTP_URL"])
	require.FileExists(t, filepath.Join("..", c.Services["downstream"].Build.Dockerfile))
}

func TestDockerfiles(t *testing.T) {
	for _, name := range []string{"receiver", "sender", "tgemu"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("../Dockerfile." + name)
			require.NoError(t, err)
			s := string(data)
			require.Equal(t, 2, len(regexp.MustCompile(`(?m)^FROM `).FindAllString(s, -1)), "multi-stage")
			require.Contains(t, s, "make build BINARIES="+name, "same build as make build")
			require.Contains(t, s, "ARG VERSION")
			require.Regexp(t, `(?m)^USER 65532`, s, "non-root")
			require.Regexp(t, `(?m)^HEALTHCHECK .*/healthz`, s)
			require.Contains(t, s, "distroless/static", "minimal static final image")
		})
	}
	mk, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	require.Contains(t, string(mk), "CGO_ENABLED=0 $(GO) build", "make build is static")
}

func TestPrometheusTargets(t *testing.T) {
	data, err := os.ReadFile("prometheus/prometheus.yml")
	require.NoError(t, err)
	var p struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &p))
	var targets []string
	for _, sc := range p.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	require.ElementsMatch(t, []string{"sender:8001", "receiver:8002"}, targets)
}

// TestGrafanaDashboardUsesExportedMetrics checks that every metric the
// dashboard queries is one the services define.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana/tgbot.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, yaml.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)

	var source strings.Builder
	for _, dir := range []string{"../internal/sender/metrics", "../internal/receiver/metrics"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files, dir)
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			source.Write(b)
		}
	}
	metric := regexp.MustCompile(`\b((?:sender|receiver)_[a-z_]+?)(?:_bucket)?\b`)
	seen := 0
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			for _, m := range metric.FindAllStringSubmatch(tg.Expr, -1) {
				require.Contains(t, source.String(), `"`+m[1]+`"`, "panel %q queries %s", p.Title, m[1])
				seen++
			}
		}
	}
	require.Greater(t, seen, 10)
}

func TestComposeScale(t *testing.T) {
	c := load(t, "docker-compose.scale.yml")
	for _, name := range []string{"sender1", "sender2"} {
		s, ok := c.Services[name]
		require.True(t, ok, name)
		require.Equal(t, "nats://nats1:4222,nats://nats2:4222,nats://nats3:4222", s.Environment["NATS_URL"], name)
		require.Equal(t, "3", s.Environment["NATS_STREAM_REPLICAS"], name)
		require.Equal(t, "/data", s.Environment["DATA_DIR"], name)
		require.Len(t, s.Volumes, 1, "each replica its own DATA_DIR (its session)")
		require.FileExists(t, filepath.Join("..", s.Build.Dockerfile))
	}
	require.NotEqual(t, c.Services["sender1"].Volumes, c.Services["sender2"].Volumes)
	for _, name := range []string{"nats1", "nats2", "nats3"} {
		require.Contains(t, c.Services, name)
	}
	require.Contains(t, c.Services["sender-lb"].Ports, "8001:8001")
	lb, err := os.ReadFile("nginx/sender-lb.conf")
	require.NoError(t, err)
	require.Contains(t, string(lb), "server sender1:8001")
	require.Contains(t, string(lb), "server sender2:8001")
	conf, err := os.ReadFile("nats/nats.conf")
	require.NoError(t, err)
	require.Contains(t, string(conf), "sync_interval: always")
}
