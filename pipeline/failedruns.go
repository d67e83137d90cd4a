package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
)

// WorkflowFailedRuns is the cron workflow that reports failed
// DiarizationPipeline runs to Zulip.
const WorkflowFailedRuns = "FailedRunsMonitor"

// DefaultFailedRunsCron is when FailedRunsMonitor runs
// (PARLEY_FAILED_RUNS_CRON): hourly.
const DefaultFailedRunsCron = "0 * * * *"

// DefaultFailedRunsWindow is the interval (PARLEY_FAILED_RUNS_WINDOW) that
// GET /v1/runs/failed lists by default; each FailedRunsMonitor tick looks
// back twice as far.
const DefaultFailedRunsWindow = time.Hour

// DefaultFailedRunsTopic is the Zulip topic of the reports
// (PARLEY_FAILED_RUNS_ZULIP_TOPIC).
const DefaultFailedRunsTopic = "failed runs"

// States of a step in a failed run.
const (
	StepPassed  = "passed"
	StepFailed  = "failed"
	StepSkipped = "skipped" // never ran, or did not finish (cancelled)
)

// FailedRun is a DiarizationPipeline run that failed, with its DAG.
type FailedRun struct {
	WorkflowRunID string `json:"workflow_run_id"`
	// TranscriptID is the run's transcript ("" when its input names none).
	TranscriptID string `json:"transcript_id,omitempty"`
	// Title is the transcript's title or name, when it still exists.
	Title     string    `json:"title,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	FailedAt  time.Time `json:"failed_at"`
	// FailedStep is the step that failed (the first in step-table order; a
	// track step rather than process_tracks when a track failed), and
	// Error its error.
	FailedStep string `json:"failed_step,omitempty"`
	Error      string `json:"error,omitempty"`
	// Steps is every step of the step table, in its order.
	Steps []RunStep `json:"steps"`
	// TranscriptURL is the transcript's page (UI_BASE_URL), DashboardURL
	// the run in the Hatchet dashboard.
	TranscriptURL string `json:"transcript_url,omitempty"`
	DashboardURL  string `json:"dashboard_url,omitempty"`
	// ReportedAt is when FailedRunsMonitor posted the run to Zulip.
	ReportedAt *time.Time `json:"reported_at,omitempty"`
}

// RunStep is one step of the step table in one run.
type RunStep struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// State is StepPassed, StepFailed or StepSkipped.
	State string `json:"state"`
	// Status is the engine's status of the task when it has one
	// (COMPLETED, FAILED, CANCELLED, ...).
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Runs counts a child step's runs (one per track, topic chunk or
	// subject): how many there were, passed and failed. Absent for other
	// steps.
	Runs *ChildRuns `json:"runs,omitempty"`
}

// ChildRuns counts the child runs of a child step.
type ChildRuns struct {
	// Kind is what one child run works on: track, chunk or subject.
	Kind   string `json:"kind"`
	Total  int    `json:"total"`
	Passed int    `json:"passed"`
	Failed int    `json:"failed"`
}

// RunReader reads workflow runs from the engine (package hatchet).
type RunReader interface {
	// ListRuns lists a workflow's runs created since, oldest first.
	ListRuns(ctx context.Context, workflow string, since time.Time, statuses ...string) ([]hatchet.RunSummary, error)
	// ChildRuns lists the runs a task spawned.
	ChildRuns(ctx context.Context, taskID string, since time.Time) ([]hatchet.RunSummary, error)
	State(ctx context.Context, runID string) (hatchet.RunState, error)
	// RunURL is the run's page in the Hatchet dashboard ("" unknown).
	RunURL(runID string) string
}

// TranscriptReader gives the runs' transcripts (package store).
type TranscriptReader interface {
	GetTranscript(ctx context.Context, id string) (*parley.Transcript, error)
}

// ReportedRuns tells which runs FailedRunsMonitor reported (package
// store).
type ReportedRuns interface {
	ReportedRuns(ctx context.Context, runIDs []string) (map[string]time.Time, error)
}

// FailedRunFinder lists the failed DiarizationPipeline runs with their
// DAGs, from the engine.
type FailedRunFinder struct {
	Runs RunReader
	// Transcripts gives the runs' titles; nil: none.
	Transcripts TranscriptReader
	// Reports marks the runs already reported; nil: none marked.
	Reports ReportedRuns
	// UIBaseURL (UI_BASE_URL) prefixes the transcripts' links.
	UIBaseURL string
}

// maxRunAge is how long before it failed a run may have been created: the
// engine lists runs by creation time, so runs are asked for since that much
// before the time of interest (pipeline runs end well within it).
const maxRunAge = 48 * time.Hour

// FailedSince returns the runs that failed at or after since, oldest
// failure first, each with its DAG: at most limit (0: no limit), more
// telling whether there were others after them.
func (f *FailedRunFinder) FailedSince(ctx context.Context, since time.Time, limit int) (runs []FailedRun, more bool, err error) {
	sums, err := f.failed(ctx, since)
	if err != nil {
		return nil, false, err
	}
	if limit > 0 && len(sums) > limit {
		sums, more = sums[:limit], true
	}
	runs = make([]FailedRun, 0, len(sums))
	for _, s := range sums {
		r, err := f.detail(ctx, s)
		if err != nil {
			return nil, false, err
		}
		runs = append(runs, r)
	}
	if f.Reports != nil && len(runs) > 0 {
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.WorkflowRunID
		}
		reported, err := f.Reports.ReportedRuns(ctx, ids)
		if err != nil {
			return nil, false, err
		}
		for i := range runs {
			if at, ok := reported[runs[i].WorkflowRunID]; ok {
				runs[i].ReportedAt = &at
			}
		}
	}
	return runs, more, nil
}

// failedAt is when a listed run failed: when its last task finished.
func failedAt(s hatchet.RunSummary) time.Time {
	if s.FinishedAt.IsZero() {
		return s.CreatedAt
	}
	return s.FinishedAt
}

// failed lists the failed runs that failed at or after since, oldest
// failure first, without their DAGs.
func (f *FailedRunFinder) failed(ctx context.Context, since time.Time) ([]hatchet.RunSummary, error) {
	all, err := f.Runs.ListRuns(ctx, WorkflowPipeline, since.Add(-maxRunAge), hatchet.RunFailed)
	if err != nil {
		return nil, fmt.Errorf("list failed runs: %w", err)
	}
	out := make([]hatchet.RunSummary, 0, len(all))
	for _, s := range all {
		if s.Status == hatchet.RunFailed && !failedAt(s).Before(since) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b hatchet.RunSummary) int {
		return cmp.Or(failedAt(a).Compare(failedAt(b)), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// detail reads a run's tasks (and its children's) from the engine.
func (f *FailedRunFinder) detail(ctx context.Context, s hatchet.RunSummary) (FailedRun, error) {
	st, err := f.Runs.State(ctx, s.ID)
	if err != nil {
		return FailedRun{}, fmt.Errorf("read failed run %s: %w", s.ID, err)
	}
	r := FailedRun{WorkflowRunID: s.ID, CreatedAt: s.CreatedAt, FailedAt: failedAt(s), DashboardURL: f.Runs.RunURL(s.ID)}
	r.TranscriptID = s.Metadata["transcript_id"]
	if id, ok := st.Input["transcript_id"].(string); ok && id != "" {
		r.TranscriptID = id
	}
	// The child runs of each step that spawns them, by child workflow.
	children := map[string][]childRun{}
	for _, spec := range StepTable {
		task, ok := st.Tasks[spec.Name]
		if spec.Workflow != WorkflowPipeline || spec.Children == "" || !ok || task.ExternalID == "" {
			continue
		}
		runs, err := f.Runs.ChildRuns(ctx, task.ExternalID, s.CreatedAt.Add(-time.Minute))
		if err != nil {
			return FailedRun{}, fmt.Errorf("read failed run %s: %w", s.ID, err)
		}
		for _, c := range runs {
			cst, err := f.Runs.State(ctx, c.ID)
			if err != nil {
				return FailedRun{}, fmt.Errorf("read failed run %s: %w", s.ID, err)
			}
			children[spec.Children] = append(children[spec.Children], childRun{label: c.Metadata[childKind(spec.Children)], state: cst})
		}
	}
	r.Steps = runSteps(st, children)
	r.FailedStep, r.Error = failedStep(r.Steps)
	if r.TranscriptID != "" {
		if f.UIBaseURL != "" {
			r.TranscriptURL = strings.TrimRight(f.UIBaseURL, "/") + "/transcripts/" + url.PathEscape(r.TranscriptID)
		}
		if f.Transcripts != nil {
			// The title is a courtesy: a transcript deleted since, or a
			// database that does not answer, leaves it out.
			if t, err := f.Transcripts.GetTranscript(ctx, r.TranscriptID); err == nil {
				r.Title = t.DisplayTitle()
			}
		}
	}
	return r, nil
}

// childRun is one child run of a step (one track, chunk or subject).
type childRun struct {
	// label names it ("2 of 3", the run's metadata under its kind).
	label string
	state hatchet.RunState
}

// childKind is what one run of a child workflow works on, as its run
// metadata names it (pipeline/dag.go's runners).
func childKind(workflow string) string {
	switch workflow {
	case WorkflowTrack:
		return "track"
	case WorkflowTopicChunk:
		return "chunk"
	case WorkflowSubject:
		return "subject"
	}
	return "run"
}

// runSteps lays the engine's tasks onto the step table: a step of the
// pipeline from the run's task of that name, a child step from that
// task in every child run.
func runSteps(st hatchet.RunState, children map[string][]childRun) []RunStep {
	steps := make([]RunStep, 0, len(StepTable))
	for _, spec := range StepTable {
		rs := RunStep{Name: spec.Name, Label: spec.Label, State: StepSkipped}
		if spec.Workflow == WorkflowPipeline {
			if t, ok := st.Tasks[spec.Name]; ok {
				rs.Status, rs.State, rs.Error = t.Status, taskState(t.Status), t.Error
			}
			steps = append(steps, rs)
			continue
		}
		runs := children[spec.Workflow]
		kind := childKind(spec.Workflow)
		rs.Runs = &ChildRuns{Kind: kind, Total: len(runs)}
		for _, c := range runs {
			t, ok := c.state.Tasks[spec.Name]
			switch {
			case ok && t.Status == hatchet.RunCompleted:
				rs.Runs.Passed++
			case ok && t.Status == hatchet.RunFailed:
				rs.Runs.Failed++
				if rs.Error == "" {
					rs.Error = t.Error
					if c.label != "" {
						rs.Error = kind + " " + c.label + ": " + t.Error
					}
				}
			case ok && rs.Status == "":
				rs.Status = t.Status
			}
		}
		switch {
		case rs.Runs.Failed > 0:
			rs.State, rs.Status = StepFailed, hatchet.RunFailed
		case rs.Runs.Total > 0 && rs.Runs.Passed == rs.Runs.Total:
			rs.State, rs.Status = StepPassed, hatchet.RunCompleted
		}
		steps = append(steps, rs)
	}
	return steps
}

func taskState(status string) string {
	switch status {
	case hatchet.RunCompleted:
		return StepPassed
	case hatchet.RunFailed:
		return StepFailed
	}
	return StepSkipped
}

// failedStep names the step that failed: the first failed one in table
// order, or, when that one ran children, the first failed child step.
func failedStep(steps []RunStep) (name, errMsg string) {
	for i, s := range steps {
		if s.State != StepFailed {
			continue
		}
		for _, c := range steps[i+1:] {
			if c.Runs == nil {
				break
			}
			if c.State == StepFailed {
				return c.Name, c.Error
			}
		}
		return s.Name, s.Error
	}
	return "", ""
}

// Marks of a step in the DAG text.
const (
	markPassed  = "✓"
	markFailed  = "✗"
	markSkipped = "–"
)

// maxErrorText bounds an error in the DAG text.
const maxErrorText = 160

// DAGText renders the run's steps in step-table order, one line each: ✓
// passed, ✗ failed (with its error), – skipped or not run (cancelled; a
// task that has not finished says so, e.g. "(running)"). Child steps
// are indented under their parent, with how many of their runs (tracks,
// topic chunks, subjects) passed or failed.
func (r FailedRun) DAGText() string {
	var b strings.Builder
	for _, s := range r.Steps {
		mark := markSkipped
		switch s.State {
		case StepPassed:
			mark = markPassed
		case StepFailed:
			mark = markFailed
		}
		if s.Runs != nil {
			b.WriteString("  ")
		}
		b.WriteString(mark + " " + s.Name)
		switch {
		case s.Runs != nil && s.Runs.Failed > 0:
			fmt.Fprintf(&b, " (%d of %d %s failed)", s.Runs.Failed, s.Runs.Total, plural(s.Runs.Total, s.Runs.Kind, s.Runs.Kind+"s"))
		case s.Runs != nil && s.Runs.Total > 0:
			fmt.Fprintf(&b, " (%d of %d %s passed)", s.Runs.Passed, s.Runs.Total, plural(s.Runs.Total, s.Runs.Kind, s.Runs.Kind+"s"))
		case s.State == StepSkipped && s.Status != "" && s.Status != hatchet.RunCancelled:
			// Cancelled is how the engine ends the tasks a failure left
			// unrun: said only of tasks still queued or running.
			fmt.Fprintf(&b, " (%s)", strings.ToLower(s.Status))
		}
		if s.State == StepFailed && s.Error != "" {
			b.WriteString(": " + clip(s.Error, maxErrorText))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// clip puts text on one line and cuts it to at most n runes.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// FailedRunsMessage renders the Zulip report of failed runs (markdown): a
// heading, then for each run its title, when and at which step it failed,
// links to the transcript's page and to the run in the Hatchet dashboard,
// and its DAG (DAGText) as a code block. left counts failed runs left for
// a later report.
func FailedRunsMessage(runs []FailedRun, left int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Parley: %d failed pipeline %s**\n", len(runs), plural(len(runs), "run", "runs"))
	for _, r := range runs {
		title := clip(r.Title, 120)
		switch {
		case title != "":
		case r.TranscriptID != "":
			title = "Transcript " + r.TranscriptID
		default:
			title = "Run " + r.WorkflowRunID
		}
		fmt.Fprintf(&b, "\n**%s** failed", title)
		if r.FailedStep != "" {
			fmt.Fprintf(&b, " at `%s`", r.FailedStep)
		}
		fmt.Fprintf(&b, " <time:%s>\n", r.FailedAt.UTC().Format(time.RFC3339))
		var links []string
		if r.TranscriptURL != "" {
			links = append(links, fmt.Sprintf("[transcript](%s)", r.TranscriptURL))
		}
		run := "run " + r.WorkflowRunID
		if r.DashboardURL != "" {
			run = fmt.Sprintf("[run %s](%s)", r.WorkflowRunID, r.DashboardURL)
		}
		links = append(links, "Hatchet "+run)
		b.WriteString(strings.Join(links, " · ") + "\n")
		dag := r.DAGText()
		fence := strings.Repeat("`", max(3, longestBackticks(dag)+1))
		fmt.Fprintf(&b, "%stext\n%s%s\n", fence, dag, fence)
	}
	if left > 0 {
		fmt.Fprintf(&b, "\n_%d more failed %s will be in a later report._\n", left, plural(left, "run", "runs"))
	}
	return b.String()
}

func longestBackticks(s string) int {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// RunReports records which failed runs were reported (package store): a
// run is claimed before the message that names it goes out.
type RunReports interface {
	ReportedRuns
	ClaimRunReports(ctx context.Context, runIDs []string, claimant string, lease time.Duration) ([]string, error)
	RunsReported(ctx context.Context, runIDs []string, claimant string, messageID int64) error
	ReleaseRunReports(ctx context.Context, runIDs []string, claimant string) error
}

// ZulipPoster posts a stream message (package notify).
type ZulipPoster interface {
	Post(ctx context.Context, stream, topic, content string) (int64, error)
}

// maxRunsPerReport bounds the runs one tick reports (and their message
// maxReportChars); the others wait for the next tick.
const maxRunsPerReport = 10

// reportLease is how long a tick's claim on a run holds without a report
// (a tick that died between its post and recording it): then the next
// tick reports the run again.
const reportLease = 15 * time.Minute

// FailedRunsMonitor posts the failed pipeline runs to a Zulip stream: one
// message per tick naming every run not reported before (at most
// maxRunsPerReport), nothing when there is none. Runs are claimed in the
// database before the message goes out and marked reported after, so
// overlapping or repeated ticks never name a run twice.
type FailedRunsMonitor struct {
	Finder  *FailedRunFinder
	Reports RunReports
	Zulip   ZulipPoster
	// Stream and Topic (PARLEY_FAILED_RUNS_ZULIP_STREAM, _TOPIC) are where
	// the reports go. Topic defaults to DefaultFailedRunsTopic.
	Stream, Topic string
	// Window (PARLEY_FAILED_RUNS_WINDOW): a tick looks at the runs that
	// failed in the last two windows, so a late tick or the engine's delay
	// in listing a run loses nothing. Defaults to DefaultFailedRunsWindow.
	Window time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// MonitorInput is the cron workflow's (empty) input.
type MonitorInput struct{}

// MonitorOutput is report_failed_runs' output.
type MonitorOutput struct {
	// Failed counts the failed runs the tick looked at.
	Failed int `json:"failed"`
	// Reported are the runs its message named, MessageID the message.
	Reported  []string `json:"reported"`
	MessageID int64    `json:"message_id,omitempty"`
	// Left counts unreported runs left for a later tick.
	Left int `json:"left,omitempty"`
}

// Report runs one tick.
func (m *FailedRunsMonitor) Report(ctx context.Context, _ MonitorInput) (MonitorOutput, error) {
	out := MonitorOutput{Reported: []string{}}
	if m.Zulip == nil || m.Stream == "" {
		return out, parley.Errorf(parley.EINVALID, "report failed runs: Zulip is off (set ZULIP_* and PARLEY_FAILED_RUNS_ZULIP_STREAM)")
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	log := cmp.Or(m.Log, slog.Default())
	window := cmp.Or(m.Window, DefaultFailedRunsWindow)
	sums, err := m.Finder.failed(ctx, now().Add(-2*window))
	if err != nil {
		return out, err
	}
	out.Failed = len(sums)
	if len(sums) == 0 {
		return out, nil
	}
	ids := make([]string, len(sums))
	for i, s := range sums {
		ids[i] = s.ID
	}
	reported, err := m.Reports.ReportedRuns(ctx, ids)
	if err != nil {
		return out, err
	}
	var todo []hatchet.RunSummary
	for _, s := range sums {
		if _, ok := reported[s.ID]; !ok {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	batch := todo[:min(len(todo), maxRunsPerReport)]
	want := make([]string, len(batch))
	for i, s := range batch {
		want[i] = s.ID
	}
	// A claimant of its own per call: neither a retry nor a tick running
	// at the same time can take these runs until the lease is over.
	claimant := uuid.NewString()
	claimed, err := m.Reports.ClaimRunReports(ctx, want, claimant, reportLease)
	if err != nil {
		return out, err
	}
	out.Left = len(todo) - len(claimed)
	if len(claimed) == 0 {
		return out, nil
	}
	release := func(ids []string) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := m.Reports.ReleaseRunReports(rctx, ids, claimant); err != nil {
			log.WarnContext(ctx, "failed runs monitor: could not release its claims; the runs are reported after the lease",
				slog.Any("error", err), slog.Duration("lease", reportLease))
		}
	}
	isClaimed := map[string]bool{}
	for _, id := range claimed {
		isClaimed[id] = true
	}
	runs := make([]FailedRun, 0, len(claimed))
	for _, s := range batch {
		if !isClaimed[s.ID] {
			continue
		}
		r, err := m.Finder.detail(ctx, s)
		if err != nil {
			release(claimed)
			return out, err
		}
		runs = append(runs, r)
	}
	n, msg := fitReport(runs, out.Left)
	named := make([]string, n)
	for i, r := range runs[:n] {
		named[i] = r.WorkflowRunID
	}
	if n < len(runs) {
		// What does not fit waits for the next tick.
		unfit := make([]string, 0, len(runs)-n)
		for _, r := range runs[n:] {
			unfit = append(unfit, r.WorkflowRunID)
		}
		release(unfit)
		out.Left += len(unfit)
	}
	msgID, err := m.Zulip.Post(ctx, m.Stream, cmp.Or(m.Topic, DefaultFailedRunsTopic), msg)
	if err != nil {
		release(named)
		return out, fmt.Errorf("report %d failed runs: %w", n, err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := m.Reports.RunsReported(rctx, named, claimant, msgID); err != nil {
		// The claims hold for the lease; the runs are named again after it.
		return out, fmt.Errorf("report failed runs: posted message %d but could not record it: %w", msgID, err)
	}
	out.Reported, out.MessageID = named, msgID
	log.InfoContext(ctx, "failed runs reported", slog.Int("runs", n), slog.Int64("message_id", msgID),
		slog.Int("left", out.Left))
	return out, nil
}

// maxReportChars bounds a report's length, under Zulip's 10,000
// characters.
const maxReportChars = 9500

// fitReport renders the report of as many of runs (at least one) as fit
// in maxReportChars, telling how many it names; the rest are counted with
// left as waiting for a later report.
func fitReport(runs []FailedRun, left int) (int, string) {
	for n := len(runs); ; n-- {
		msg := FailedRunsMessage(runs[:n], left+len(runs)-n)
		if n == 1 || utf8.RuneCountInString(msg) <= maxReportChars {
			return n, msg
		}
	}
}

// DefineFailedRunsMonitor declares the FailedRunsMonitor cron workflow
// (one run at a time; a tick that overlaps another waits for it).
func DefineFailedRunsMonitor(c *hatchet.Client, m *FailedRunsMonitor, cron string) *hatchet.Workflow {
	opts := append(hatchet.WithMaxRuns(1), hatchet.WithCron(cmp.Or(cron, DefaultFailedRunsCron)))
	wf := c.NewWorkflow(WorkflowFailedRuns, "Posts the DiarizationPipeline runs that failed (each once, with its DAG) to Zulip.", nil, opts...)
	hatchet.Task(wf, "report_failed_runs", hatchet.Policy{Timeout: 5 * time.Minute, Retries: 2, BackoffFactor: 2, BackoffMax: time.Minute},
		m.Report)
	return wf
}
