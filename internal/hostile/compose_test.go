package hostile_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/testenv"
)

// TestHostileComposePublishesLittle reads docker-compose.yml: every
// published port is bound to loopback by default, Hatchet's gRPC port is
// not published, and secrets have no defaults (${VAR:?...}).
func TestHostileComposePublishesLittle(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "docker-compose.yml"))
	require.NoError(t, err)
	var ports []string
	inPorts := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "ports:":
			inPorts = true
		case inPorts && strings.HasPrefix(trimmed, "- "):
			ports = append(ports, strings.Trim(strings.Fields(strings.TrimPrefix(trimmed, "- "))[0], `"`))
		case inPorts && trimmed != "" && !strings.HasPrefix(trimmed, "#"):
			inPorts = false
		}
	}
	require.NotEmpty(t, ports)
	for _, p := range ports {
		require.True(t, strings.HasPrefix(p, "127.0.0.1:") || strings.HasPrefix(p, "${PARLEY_PUBLISH_ADDR:-127.0.0.1}:"),
			"port %q is published on every interface", p)
		require.NotContains(t, p, "7077", "Hatchet's gRPC port is published")
	}
	for _, secret := range []string{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "PARLEY_API_TOKEN", "RABBITMQ_PASSWORD"} {
		uses := regexp.MustCompile(`\$\{`+secret+`(:[-?][^}]*)?\}`).FindAllString(string(b), -1)
		require.NotEmpty(t, uses, secret)
		for _, u := range uses {
			if secret == "RABBITMQ_PASSWORD" {
				// The cluster profile's secret: compose checks ${VAR:?}
				// before it applies profiles, so it is empty when unset
				// (never a default) and the rabbitmq service refuses to
				// start without it.
				require.Equal(t, "${RABBITMQ_PASSWORD:-}", u, "%s has a default", secret)
				continue
			}
			require.True(t, strings.HasPrefix(u, "${"+secret+":?"), "%s has a default: %s", secret, u)
		}
	}
	require.Contains(t, string(b), `[ -n \"$$RABBITMQ_DEFAULT_PASS\" ] || {`, "rabbitmq refuses an empty password")
	require.NotContains(t, string(b), "change-me-please")
}
