package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/parley-dev/parley"
)

func init() {
	register("process", "transcribe a recording: parley process [flags] TRACK...", runProcess)
	register("status", "show a transcript and its steps: parley status ID [--json]", runStatus)
	register("retry", "resume a failed run: parley retry ID [--no-wait]", runRetry)
}

type processFlags struct {
	language, room, name string
	json, noWait, force  bool
}

func runProcess(ctx context.Context, env *Env, args []string) error {
	var f processFlags
	fs := flag.NewFlagSet("process", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.StringVar(&f.language, "language", "", "spoken language (default en)")
	fs.StringVar(&f.room, "room", "", "room name (its webhook and Zulip settings apply)")
	fs.StringVar(&f.name, "name", "", "a name for the transcript")
	fs.BoolVar(&f.json, "json", false, "print the transcript document (with topics and words) as JSON on completion")
	fs.BoolVar(&f.noWait, "no-wait", false, "print {transcript_id, workflow_run_id} and exit without waiting")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: parley process [--language L] [--room NAME] [--name TITLE] [--json] [--no-wait] TRACK...")
		fmt.Fprintln(env.Stderr, "  TRACK is a local audio file (uploaded) or s3://bucket/key")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		return &exitError{code: 2, err: nil}
	}
	tracks := fs.Args()
	if len(tracks) == 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("no TRACK given")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	tid, runID, err := startProcessing(ctx, env, c, f, tracks)
	if err != nil {
		return err
	}
	if f.noWait {
		return json.NewEncoder(env.Stdout).Encode(map[string]string{"transcript_id": tid, "workflow_run_id": runID})
	}
	return waitAndPrint(ctx, env, c, tid, f.json)
}

// parseInterspersed parses flags given before or after the positional
// arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func startProcessing(ctx context.Context, env *Env, c *apiClient, f processFlags, tracks []string) (string, string, error) {
	var s3Tracks, files []string
	for _, t := range tracks {
		if strings.HasPrefix(t, "s3://") {
			s3Tracks = append(s3Tracks, t)
		} else {
			files = append(files, t)
		}
	}
	if len(s3Tracks) > 0 && len(files) > 0 {
		return "", "", fmt.Errorf("give either local files or s3:// keys, not both")
	}
	if len(s3Tracks) > 0 {
		bucket := ""
		var keys []map[string]string
		for _, t := range s3Tracks {
			u, err := url.Parse(t)
			if err != nil || u.Host == "" || strings.TrimPrefix(u.Path, "/") == "" {
				return "", "", fmt.Errorf("%q is not s3://bucket/key", t)
			}
			if bucket != "" && u.Host != bucket {
				return "", "", fmt.Errorf("all s3:// tracks must be in one bucket")
			}
			bucket = u.Host
			keys = append(keys, map[string]string{"s3_key": strings.TrimPrefix(u.Path, "/")})
		}
		var out struct {
			TranscriptID  string `json:"transcript_id"`
			WorkflowRunID string `json:"workflow_run_id"`
		}
		err := c.postJSON(ctx, "/v1/process", map[string]any{"tracks": keys, "bucket_name": bucket,
			"language": f.language, "room_name": f.room, "name": f.name}, &out)
		return out.TranscriptID, out.WorkflowRunID, err
	}
	for _, p := range files {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("track %s: %w", p, err)
		}
	}
	req := map[string]any{"name": f.name, "language": f.language}
	if f.room != "" {
		id, err := roomID(ctx, c, f.room)
		if err != nil {
			return "", "", err
		}
		req["room_id"] = id
	}
	var t struct {
		ID string `json:"id"`
	}
	if err := c.postJSON(ctx, "/v1/transcripts", req, &t); err != nil {
		return "", "", err
	}
	for i, p := range files {
		fmt.Fprintf(env.Stderr, "uploading track %d of %d: %s\n", i+1, len(files), p)
		if err := c.uploadTrack(ctx, t.ID, p); err != nil {
			return t.ID, "", err
		}
	}
	var run struct {
		WorkflowRunID string `json:"workflow_run_id"`
	}
	err := c.postJSON(ctx, "/v1/transcripts/"+t.ID+"/process", map[string]any{"force": f.force}, &run)
	return t.ID, run.WorkflowRunID, err
}

func roomID(ctx context.Context, c *apiClient, name string) (string, error) {
	var rooms struct {
		Items []parley.Room `json:"items"`
	}
	if err := c.do(ctx, "GET", "/v1/rooms", nil, "", &rooms); err != nil {
		return "", err
	}
	for _, r := range rooms.Items {
		if r.Name == name {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("room %q does not exist (create it with POST /v1/rooms)", name)
}

// progressView shows pipeline progress on stderr: a bar on a terminal,
// one line per step change otherwise.
type progressView struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	last string
	// pct is the highest percent shown: steps that run side by side
	// report in any order, and the view only moves forward.
	pct float64
}

func newProgressView(w io.Writer) *progressView {
	v := &progressView{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.bar = progressbar.NewOptions(1000, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true))
	}
	return v
}

func (v *progressView) update(p parley.PipelineProgressData) {
	v.pct = max(v.pct, p.Percent)
	p.Percent = v.pct
	if v.bar != nil {
		v.bar.Describe(p.Detail)
		_ = v.bar.Set(int(p.Percent * 10))
		return
	}
	line := fmt.Sprintf("[%5.1f%%] %-22s %s", p.Percent, p.CurrentStep, p.Detail)
	if line != v.last {
		fmt.Fprintln(v.w, line)
		v.last = line
	}
}

func (v *progressView) finish() {
	if v.bar != nil {
		_ = v.bar.Finish()
		fmt.Fprintln(v.w)
	}
}

// waitAndPrint follows the run to its end and prints the result: exit 0
// when ended, exit 1 "failed at <step>: <reason>" when it failed.
func waitAndPrint(ctx context.Context, env *Env, c *apiClient, tid string, asJSON bool) error {
	view := newProgressView(env.Stderr)
	var final parley.Status
	err := c.follow(ctx, tid, func(ev event) (bool, error) {
		switch ev.Event {
		case parley.EventPipelineProgress:
			var p parley.PipelineProgressData
			if json.Unmarshal(ev.Data, &p) == nil {
				view.update(p)
			}
		case parley.EventStatus:
			var s parley.StatusData
			if json.Unmarshal(ev.Data, &s) == nil && (s.Value == parley.StatusEnded || s.Value == parley.StatusError) {
				// A STATUS from an earlier run in the replayed backlog is
				// not the end: check the document.
				doc, _, err := c.transcript(ctx, tid, "")
				if err != nil {
					return false, err
				}
				if doc.Status == s.Value {
					final = s.Value
					return true, nil
				}
			}
		}
		return false, nil
	})
	view.finish()
	if err != nil {
		return err
	}
	doc, raw, err := c.transcript(ctx, tid, "topics,words")
	if err != nil {
		return err
	}
	if final == parley.StatusError || doc.Status == parley.StatusError {
		msg := "unknown error"
		step := "unknown step"
		if doc.Error != nil {
			step, msg = doc.Error.Step, doc.Error.Message
		}
		return &exitError{code: 1, err: fmt.Errorf("failed at %s: %s (transcript %s; resume with `parley retry %s`)", step, msg, tid, tid)}
	}
	if asJSON {
		_, err := env.Stdout.Write(append(raw, '\n'))
		return err
	}
	printTranscript(env.Stdout, doc)
	return nil
}

func printTranscript(w io.Writer, d *transcriptDoc) {
	fmt.Fprintf(w, "Title: %s\n", d.DisplayTitle())
	fmt.Fprintf(w, "Transcript: %s (%s, %d speakers)\n", d.ID, clock(d.DurationSeconds), len(d.Participants))
	if d.ShortSummary != "" {
		fmt.Fprintf(w, "\nSummary\n  %s\n", wrap(d.ShortSummary, 78, "  "))
	}
	if len(d.Topics) > 0 {
		fmt.Fprintf(w, "\nTopics\n")
		for _, t := range d.Topics {
			fmt.Fprintf(w, "  [%s] %s\n", clock(t.Timestamp), t.Title)
		}
	}
	if n := len(d.ActionItems.Decisions) + len(d.ActionItems.NextSteps); n > 0 {
		fmt.Fprintf(w, "\nAction items\n")
		for _, dc := range d.ActionItems.Decisions {
			fmt.Fprintf(w, "  decision: %s%s\n", dc.Decision, by(dc.DecidedBy))
		}
		for _, ns := range d.ActionItems.NextSteps {
			fmt.Fprintf(w, "  next: %s%s\n", ns.Task, by(ns.AssignedTo))
		}
	}
	fmt.Fprintf(w, "\nTranscript\n")
	for _, s := range parley.Segments(d.Words) {
		fmt.Fprintf(w, "  [%s] %s: %s\n", clock(s.Start), parley.SpeakerName(d.Participants, s.Speaker), s.Text)
	}
}

func by(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

func clock(sec float64) string {
	s := int(sec + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

func wrap(text string, width int, indent string) string {
	var b strings.Builder
	col := 0
	for _, word := range strings.Fields(text) {
		if col > 0 && col+1+len(word) > width {
			b.WriteString("\n" + indent)
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the document and steps as JSON")
	if err := parseInterspersed(fs, args); err != nil || fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("usage: parley status ID [--json]")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	id := fs.Arg(0)
	doc, raw, err := c.transcript(ctx, id, "")
	if err != nil {
		return err
	}
	steps, err := c.steps(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"transcript": json.RawMessage(raw), "steps": steps})
	}
	fmt.Fprintf(env.Stdout, "%s  %s  status: %s\n", doc.ID, doc.DisplayTitle(), doc.Status)
	if doc.Progress != nil {
		fmt.Fprintf(env.Stdout, "progress: %.0f%% (%s)\n", doc.Progress.Percent, doc.Progress.Detail)
	}
	if doc.Error != nil {
		fmt.Fprintf(env.Stdout, "error: failed at %s: %s\n", doc.Error.Step, doc.Error.Message)
	}
	fmt.Fprintf(env.Stdout, "\n%-22s %-6s %-8s %-10s %8s %9s %6s %8s  %s\n", "STEP", "TRACK", "SOURCE", "STATUS", "ATTEMPTS", "TIME",
		"ASR s", "TOKENS", "ERROR")
	for _, s := range steps {
		track := ""
		if s.TrackIndex != nil {
			track = fmt.Sprint(*s.TrackIndex + 1)
		}
		fmt.Fprintf(env.Stdout, "%-22s %-6s %-8s %-10s %8d %8.1fs %6.0f %8d  %s\n", s.Name, track, s.Source, s.Status, s.Attempts,
			float64(s.DurationMS)/1000, s.Usage.ASRAudioSeconds, s.Usage.LLMPromptTokens+s.Usage.LLMCompletionTokens, s.Error)
	}
	if doc.Status == parley.StatusError {
		return &exitError{code: 1}
	}
	return nil
}

func runRetry(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	noWait := fs.Bool("no-wait", false, "do not follow the resumed run")
	asJSON := fs.Bool("json", false, "print the transcript document as JSON on completion")
	if err := parseInterspersed(fs, args); err != nil || fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("usage: parley retry ID [--no-wait] [--json]")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	id := fs.Arg(0)
	var out struct {
		WorkflowRunID string `json:"workflow_run_id"`
		Resumed       bool   `json:"resumed"`
	}
	if err := c.postJSON(ctx, "/v1/transcripts/"+url.PathEscape(id)+"/process", map[string]any{}, &out); err != nil {
		return err
	}
	verb := "started a new run"
	if out.Resumed {
		verb = "resumed run"
	}
	fmt.Fprintf(env.Stderr, "%s %s\n", verb, out.WorkflowRunID)
	if *noWait {
		return json.NewEncoder(env.Stdout).Encode(map[string]string{"transcript_id": id, "workflow_run_id": out.WorkflowRunID})
	}
	return waitAndPrint(ctx, env, c, id, *asJSON)
}
