package hatchet_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEngineVersionMatchesSDK keeps the SDK and the engine on one Hatchet
// version: go.mod pins the SDK, and the engine that scripts/stack.sh builds
// (tools/hatchet/go.mod), the dashboard it builds (tools/dashboard) and the
// image docker-compose.yml runs must be the same release.
func TestEngineVersionMatchesSDK(t *testing.T) {
	t.Parallel()
	pin := regexp.MustCompile(`github\.com/hatchet-dev/hatchet (v\S+)`)
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join("..", path))
		require.NoError(t, err)
		return string(b)
	}
	m := pin.FindStringSubmatch(read("go.mod"))
	require.NotNil(t, m, "go.mod pins no github.com/hatchet-dev/hatchet")
	sdk := m[1]

	m = pin.FindStringSubmatch(read("tools/hatchet/go.mod"))
	require.NotNil(t, m, "tools/hatchet/go.mod pins no github.com/hatchet-dev/hatchet")
	require.Equal(t, sdk, m[1], "tools/hatchet/go.mod builds another engine version than the SDK's")

	var dash struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(read("tools/dashboard/package.json")), &dash))
	require.Equal(t, sdk, "v"+dash.Version, "tools/dashboard/pnpm-lock.yaml is for another Hatchet version: run scripts/dashboard.sh lock")

	images := regexp.MustCompile(`image: ghcr\.io/hatchet-dev/hatchet/[a-z-]+:(\S+)`).FindAllStringSubmatch(read("docker-compose.yml"), -1)
	require.NotEmpty(t, images, "docker-compose.yml runs no Hatchet image")
	for _, img := range images {
		require.Equal(t, sdk, img[1], "docker-compose.yml: %s", img[0])
	}
}
