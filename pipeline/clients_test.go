package pipeline_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// These tests start DiarizationPipeline the way other Hatchet clients do,
// without Parley's API: the TypeScript SDK from npm and the engine's REST
// trigger (the dashboard's "Trigger run" button). The run must still be a
// complete Parley run.

// tsSDKVersion is the @hatchet-dev/typescript-sdk the test installs (the
// newest the npm registry here serves), pinned exactly.
const tsSDKVersion = "1.33.2"

// uploaded creates a transcript whose tracks are stored, as the upload
// routes leave it, without starting it.
func uploaded(t *testing.T, s *e2e.Stack, n int) *parley.Transcript {
	t.Helper()
	ctx := context.Background()
	tr, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: "started elsewhere", Status: parley.StatusUploaded})
	require.NoError(t, err)
	root := testenv.Root(t)
	var trs []parley.Track
	for i, name := range names[:n] {
		key := s.Upload(ctx, filepath.Join(root, "testdata", "meeting", name+".webm"), tr.ID+"/upload/"+name+".webm")
		trs = append(trs, parley.Track{Index: i, Bucket: s.S3.Bucket(), Key: key, Name: strings.ToUpper(name[:1]) + name[1:]})
	}
	require.NoError(t, s.DB.SetTracks(ctx, tr.ID, trs))
	return tr
}

// requireCompleteRun checks that a run Parley did not start is a whole
// Parley run: ended, words, the run id from the run itself, every step in
// the audit, events stored.
func requireCompleteRun(t *testing.T, s *e2e.Stack, id, runID string) {
	t.Helper()
	ctx := context.Background()
	tr := s.WaitStatus(ctx, id, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	require.NotNil(t, tr.WorkflowRunID, "the pipeline did not record its run id")
	require.Equal(t, runID, *tr.WorkflowRunID)
	words, err := s.DB.ListWords(ctx, id)
	require.NoError(t, err)
	require.NotEmpty(t, words)
	var steps []string
	for _, st := range auditSteps(t, s, id) {
		require.Equal(t, runID, st.WorkflowRunID, "step %s was recorded under another run", st.Name)
		steps = append(steps, st.Name)
	}
	for _, want := range []string{"get_recording", "process_tracks", "transcribe_track", "finalize"} {
		require.Contains(t, steps, want)
	}
	var statuses []string
	for _, ev := range s.Events(ctx, id) {
		if ev.Name == parley.EventStatus {
			statuses = append(statuses, string(ev.Data))
		}
	}
	require.NotEmpty(t, statuses)
	require.Contains(t, statuses[len(statuses)-1], string(parley.StatusEnded))
}

func auditSteps(t *testing.T, s *e2e.Stack, id string) []parley.StepRecord {
	t.Helper()
	var got struct {
		Steps []parley.StepRecord `json:"steps"`
	}
	require.Equal(t, 200, s.API(context.Background(), "GET", "/v1/transcripts/"+id+"/steps", nil, &got))
	return got.Steps
}

// tsSDK installs the TypeScript SDK once into the cache (as the browser
// test's Chromium is installed once) and returns its node_modules.
func tsSDK(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for the TypeScript SDK test (Debian: apt-get install nodejs npm): %v", tool, err)
		}
	}
	cache := os.Getenv("PARLEY_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		cache = filepath.Join(home, ".cache", "parley")
	}
	dir := filepath.Join(cache, "hatchet-typescript-sdk-"+tsSDKVersion)
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "@hatchet-dev", "typescript-sdk", "package.json")); err == nil {
		return mods
	}
	require.NoError(t, os.MkdirAll(cache, 0o755))
	lock, err := os.OpenFile(filepath.Join(cache, ".npm.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(filepath.Join(mods, "@hatchet-dev", "typescript-sdk", "package.json")); err == nil {
		return mods // another test process installed it meanwhile
	}
	tmp, err := os.MkdirTemp(cache, ".npm-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "package.json"), []byte(`{"private": true}`), 0o644))
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
		"@hatchet-dev/typescript-sdk@"+tsSDKVersion)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm install @hatchet-dev/typescript-sdk@%s:\n%s", tsSDKVersion, out)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(tmp, dir))
	return mods
}

// tsTrigger is the README's TypeScript example, as the test runs it.
const tsTrigger = `
const { HatchetClient } = require('@hatchet-dev/typescript-sdk/v1');

async function main() {
  const hatchet = HatchetClient.init();
  const ref = await hatchet.runNoWait('DiarizationPipeline', {
    transcript_id: process.argv[2],
    language: 'en',
  });
  console.log(JSON.stringify({ run_id: await ref.getWorkflowRunId() }));
  const output = await ref.output;
  console.log(JSON.stringify({ output }));
}

const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, 240000);
main().then(() => { clearTimeout(timer); process.exit(0); },
            (err) => { console.error(err); process.exit(1); });
`

func TestTypeScriptSDKTriggersThePipeline(t *testing.T) {
	t.Parallel()
	testenv.Load(t) // skips under -short before anything is installed
	mods := tsSDK(t)
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	tr := uploaded(t, s, 3)

	script := filepath.Join(t.TempDir(), "trigger.js")
	require.NoError(t, os.WriteFile(script, []byte(tsTrigger), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, tr.ID)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods,
		"HATCHET_CLIENT_NAMESPACE="+s.Namespace,
		"HATCHET_CLIENT_LOG_LEVEL=WARN", // the TypeScript SDK wants it upper case
		"HATCHET_CLIENT_TLS_STRATEGY=none")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node: %s\n%s", stdout.String(), stderr.String())

	// The SDK's result promise resolved with the alias's output, which
	// names the DiarizationPipeline run it ran.
	var res struct {
		Output map[string]struct {
			Workflow      string `json:"workflow"`
			WorkflowRunID string `json:"workflow_run_id"`
		} `json:"output"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2, stdout.String())
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &res), lines[1])
	fwd, ok := res.Output["forward"]
	require.True(t, ok, "output: %s", lines[1])
	require.Equal(t, pipeline.WorkflowPipeline, fwd.Workflow)
	requireCompleteRun(t, s, tr.ID, fwd.WorkflowRunID)
}

// restTrigger calls the engine's REST trigger as the dashboard does and
// returns the run id.
func restTrigger(t *testing.T, workflow string, input map[string]any) string {
	t.Helper()
	token := testenv.Getenv(t, "HATCHET_CLIENT_TOKEN")
	server := testenv.Getenv(t, "HATCHET_CLIENT_SERVER_URL")
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "the worker token is not a JWT")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c struct {
		Sub string `json:"sub"`
	}
	require.NoError(t, json.Unmarshal(claims, &c))
	body, err := json.Marshal(map[string]any{"workflowName": workflow, "input": input})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", server+"/api/v1/stable/tenants/"+c.Sub+"/workflow-runs/trigger", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Run struct {
			Metadata struct {
				ID string `json:"id"`
			} `json:"metadata"`
		} `json:"run"`
	}
	raw := new(bytes.Buffer)
	_, err = raw.ReadFrom(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, raw.String())
	require.NoError(t, json.Unmarshal(raw.Bytes(), &out), raw.String())
	require.NotEmpty(t, out.Run.Metadata.ID, raw.String())
	return out.Run.Metadata.ID
}

func TestRESTTriggerRunsThePipeline(t *testing.T) {
	t.Parallel()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	tr := uploaded(t, s, 2)
	// The dashboard shows, and triggers, the namespaced name.
	runID := restTrigger(t, s.Hatchet().Namespaced(pipeline.WorkflowPipeline),
		map[string]any{"transcript_id": tr.ID, "language": "en"})
	requireCompleteRun(t, s, tr.ID, runID)
}

func TestTriggerWithoutTracksFailsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	tr, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: "no tracks", Status: parley.StatusIdle})
	require.NoError(t, err)
	restTrigger(t, s.Hatchet().Namespaced(pipeline.WorkflowPipeline), map[string]any{"transcript_id": tr.ID, "language": "en"})
	got := s.WaitStatus(ctx, tr.ID, time.Minute, parley.StatusError, parley.StatusEnded)
	require.Equal(t, parley.StatusError, got.Status)
	require.NotNil(t, got.Error)
	require.Equal(t, "get_recording", got.Error.Step)
	require.Contains(t, got.Error.Message, "has no tracks")
	steps := auditSteps(t, s, tr.ID)
	require.NotEmpty(t, steps)
	require.Equal(t, "get_recording", steps[0].Name)
	require.Equal(t, 1, steps[0].Attempts, "a missing track is not worth a retry")
	require.Len(t, steps, 1, "no step after get_recording ran")
}
