// Package docs holds the project's generated documents (BENCHMARKS.md); its
// test keeps README.md and .env.example true to the code: every environment
// variable a binary reads is documented, and the example env file names only
// variables that exist.
package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/receiver"
)

var envTag = regexp.MustCompile(`env:"([A-Z0-9_]+)`)

// envVars collects the variables named in env struct tags of non-test code.
func envVars(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, root := range []string{"../cmd", "../internal", "../examples"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			if strings.Contains(filepath.ToSlash(path), "internal/receiver/driver/") {
				return nil // driver settings carry a prefix: listed below from the receiver's Config
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envTag.FindAllStringSubmatch(string(data), -1) {
				vars[m[1]] = path
			}
			return nil
		})
		require.NoError(t, err)
	}
	for _, v := range config.Vars(&receiver.Config{}) {
		if _, ok := vars[v.Name]; !ok {
			vars[v.Name] = "../internal/receiver (prefixed settings)"
		}
	}
	require.Greater(t, len(vars), 40, "the scan finds the services' variables")
	return vars
}

func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	var missing []string
	for name, path := range envVars(t) {
		if !strings.Contains(string(readme), "`"+name+"`") {
			missing = append(missing, name+" ("+path+")")
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "variables read by the code but not in README.md")
}

func TestEnvExampleNamesKnownVariables(t *testing.T) {
	vars := envVars(t)
	f, err := os.Open("../.env.example")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		require.True(t, ok, "line %q", line)
		require.Contains(t, vars, name, ".env.example names an unknown variable")
		n++
	}
	require.NoError(t, sc.Err())
	require.GreaterOrEqual(t, n, 5)
}

func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	mk, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	for _, target := range []string{"demo", "test", "build", "bench", "lint", "fmt"} {
		require.Contains(t, string(readme), "make "+target)
		require.Regexp(t, regexp.MustCompile(`(?m)^`+target+`:`), string(mk), "Makefile target %s", target)
	}
}
