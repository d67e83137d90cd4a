// Package mediaproc runs package media's operations on untrusted input in
// a child process (`parley media exec`), so that a decoder crash, a
// runaway allocation or an endless loop on a hostile file costs one child,
// never the worker or serve and every task slot in them.
//
// Each child gets the request on stdin (presigned URLs are credentials:
// never on a command line), applies its memory limit (RLIMIT_DATA) and
// CPU-time limit (RLIMIT_CPU) to itself before it reads any input, and
// answers one JSON object on stdout. The parent kills it (its whole
// process group) when the context ends. A child that dies without an
// answer — a crash, a signal, a limit — is a permanent parley.EINVALID
// error naming the input: retrying would only crash again.
package mediaproc

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/media"
)

// Defaults of Limits.
const (
	DefaultMaxMemory = 1 << 30 // bytes
	DefaultMaxCPU    = time.Hour
)

// CrashEnv is the test hook: a child whose input's name contains one of
// this variable's comma-separated values kills itself with SIGKILL before
// it opens the input, as a decoder crash would end it. Unset in
// production.
const CrashEnv = "PARLEY_MEDIA_TEST_CRASH_ON"

// Limits bound one child.
type Limits struct {
	// MaxMemory (PARLEY_MEDIA_MAX_MEMORY) is the child's data limit in
	// bytes (RLIMIT_DATA: heap, FFmpeg's buffers, thread stacks). FFmpeg
	// then fails to allocate (an invalid-input error) or the child dies.
	// Defaults to DefaultMaxMemory.
	MaxMemory int64
	// MaxCPU (PARLEY_MEDIA_MAX_CPU) is the child's CPU time; past it the
	// child is stopped. Defaults to DefaultMaxCPU.
	MaxCPU time.Duration
	// MaxDuration (PARLEY_MEDIA_MAX_DURATION) bounds each track's length
	// (media.SetMaxTrackDuration). Defaults to media.DefaultMaxTrackDuration.
	MaxDuration time.Duration
}

func (l Limits) withDefaults() Limits {
	l.MaxMemory = cmp.Or(l.MaxMemory, DefaultMaxMemory)
	l.MaxCPU = cmp.Or(l.MaxCPU, DefaultMaxCPU)
	l.MaxDuration = cmp.Or(l.MaxDuration, media.DefaultMaxTrackDuration)
	return l
}

// Runner starts children. The zero value runs the current executable.
type Runner struct {
	// Exe is the parley binary. Defaults to os.Executable().
	Exe    string
	Limits Limits
	// Env is added to the child's environment (which otherwise holds
	// only PATH, TMPDIR, LD_LIBRARY_PATH, TZ and CrashEnv when set).
	Env []string
	// MixdownNice is the niceness (0-19) mixdown children run at: the
	// mixdown runs beside the transcription and is rarely on a run's
	// critical path, while padding is, so on a busy machine padding gets
	// the CPU first. Default 0.
	MixdownNice int
}

// Request is what a child is asked to do.
type Request struct {
	Op          string            `json:"op"` // check, probe, pad, mixdown
	Src         string            `json:"src,omitempty"`
	Srcs        []string          `json:"srcs,omitempty"`
	Dst         string            `json:"dst,omitempty"`
	Pad         *media.PadOptions `json:"pad,omitempty"`
	Mix         *media.MixOptions `json:"mix,omitempty"`
	MaxDuration time.Duration     `json:"max_duration"`
	// Nice lowers the child's CPU priority (0-19).
	Nice int `json:"nice,omitempty"`
}

// answer is a child's reply.
type answer struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Check is media.CheckAudio in a child.
func (r *Runner) Check(ctx context.Context, src string) error {
	return r.run(ctx, media.DisplayName(src), Request{Op: "check", Src: src}, nil)
}

// Probe is media.Probe in a child.
func (r *Runner) Probe(ctx context.Context, src string) (media.Info, error) {
	var info media.Info
	err := r.run(ctx, media.DisplayName(src), Request{Op: "probe", Src: src}, &info)
	return info, err
}

// Pad is media.Pad in a child; it writes dst, or with opts.SplitGaps
// possibly the segments next to it (the split runs in the child too).
func (r *Runner) Pad(ctx context.Context, src, dst string, opts media.PadOptions) (media.PadResult, error) {
	var res media.PadResult
	err := r.run(ctx, media.DisplayName(src), Request{Op: "pad", Src: src, Dst: dst, Pad: &opts}, &res)
	if err != nil {
		// A killed child leaves what it wrote.
		_ = os.Remove(dst)
		if entries, err := os.ReadDir(filepath.Dir(dst)); err == nil {
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), filepath.Base(dst)+".seg") {
					_ = os.Remove(filepath.Join(filepath.Dir(dst), e.Name()))
				}
			}
		}
	}
	return res, err
}

// Mixdown is media.Mixdown in a child; it writes dst.
func (r *Runner) Mixdown(ctx context.Context, srcs []string, dst string, opts media.MixOptions) (media.MixResult, error) {
	var res media.MixResult
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = media.DisplayName(s)
	}
	err := r.run(ctx, "mixdown of "+strings.Join(names, ", "), Request{Op: "mixdown", Srcs: srcs, Dst: dst, Mix: &opts,
		Nice: r.MixdownNice}, &res)
	if err != nil {
		_ = os.Remove(dst)
	}
	return res, err
}

// maxAnswer bounds what a child may print.
const maxAnswer = 8 << 20

func (r *Runner) run(ctx context.Context, name string, req Request, out any) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	lim := r.Limits.withDefaults()
	req.MaxDuration = lim.MaxDuration
	exe := r.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("media %s: find the parley binary: %w", req.Op, err)
		}
	}
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("media %s: %w", req.Op, err)
	}
	cmd := exec.CommandContext(ctx, exe, "media", "exec",
		"--max-memory", strconv.FormatInt(lim.MaxMemory, 10), "--max-cpu", strconv.FormatInt(int64(lim.MaxCPU.Seconds()), 10))
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxAnswer, 16<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(childEnv(), r.Env...)
	// Its own process group, killed whole when ctx ends, and killed by
	// the kernel if this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("media %s: %s: %w", req.Op, name, context.Cause(ctx))
	}
	var ans answer
	if stdout.Len() > 0 && json.Unmarshal(stdout.Bytes(), &ans) == nil && (ans.Error != nil || ans.Result != nil) {
		if ans.Error != nil {
			if ans.Error.Code == parley.EINTERNAL || ans.Error.Code == "" {
				return fmt.Errorf("media %s: %s: %s", req.Op, name, ans.Error.Message)
			}
			return parley.Errorf(ans.Error.Code, "%s", ans.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(ans.Result, out); err != nil {
				return fmt.Errorf("media %s: %s: read the answer: %w", req.Op, name, err)
			}
		}
		return nil
	}
	// No answer: the child died.
	return died(req.Op, name, lim, cmd.ProcessState, runErr, stderr.String())
}

// died describes a child that ended without an answer as a permanent
// invalid-input error naming the input.
func died(op, name string, lim Limits, ps *os.ProcessState, runErr error, stderr string) error {
	why := "it ended without an answer"
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			why = "it was killed by signal " + ws.Signal().String()
			if cpu := ps.UserTime() + ps.SystemTime(); cpu >= lim.MaxCPU-time.Second {
				why += fmt.Sprintf(" at its CPU-time limit of %s (PARLEY_MEDIA_MAX_CPU)", lim.MaxCPU)
			}
		} else if ps.ExitCode() > 0 {
			why = fmt.Sprintf("it exited with status %d", ps.ExitCode())
		}
	} else if runErr != nil {
		return fmt.Errorf("media %s: %s: start the media process: %w", op, name, runErr)
	}
	if strings.Contains(stderr, "out of memory") || strings.Contains(strings.ToLower(stderr), "cannot allocate memory") {
		why += fmt.Sprintf(" at its memory limit of %d MiB (PARLEY_MEDIA_MAX_MEMORY)", lim.MaxMemory>>20)
	}
	return parley.Errorf(parley.EINVALID, "%s: the media process failed on this input: %s (a crash or a limit; not retried)", name, why)
}

// childEnv is the child's environment: no secrets, only what FFmpeg and
// the Go runtime need, and the test hook when set.
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "TMPDIR", "LD_LIBRARY_PATH", "TZ", CrashEnv} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// limitedBuffer keeps at most max bytes (the last ones for stderr would
// be nicer; the first are enough to report).
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Serve is the child's side (`parley media exec`): apply the limits, read
// one Request from stdin, run it, answer on stdout. Its error is for the
// exit status only; the answer carries the operation's error.
func Serve(ctx context.Context, stdin io.Reader, stdout io.Writer, maxMemory int64, maxCPU time.Duration) error {
	if err := applyLimits(maxMemory, maxCPU); err != nil {
		return err
	}
	var req Request
	dec := json.NewDecoder(io.LimitReader(stdin, 1<<20))
	if err := dec.Decode(&req); err != nil {
		return reply(stdout, nil, parley.Errorf(parley.EINTERNAL, "media exec: bad request: %v", err))
	}
	media.SetMaxTrackDuration(req.MaxDuration)
	if req.Nice > 0 {
		if err := niceSelf(min(req.Nice, 19)); err != nil {
			return reply(stdout, nil, parley.Errorf(parley.EINTERNAL, "media exec: set the priority: %v", err))
		}
	}
	for _, hook := range strings.Split(os.Getenv(CrashEnv), ",") {
		for _, s := range append([]string{req.Src}, req.Srcs...) {
			if hook != "" && s != "" && strings.Contains(media.DisplayName(s), hook) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
	var res any
	var err error
	switch req.Op {
	case "check":
		err = media.CheckAudio(ctx, req.Src)
		res = struct{}{}
	case "probe":
		res, err = media.Probe(ctx, req.Src)
	case "pad":
		opts := media.PadOptions{}
		if req.Pad != nil {
			opts = *req.Pad
		}
		res, err = media.Pad(ctx, req.Src, req.Dst, opts)
	case "mixdown":
		opts := media.MixOptions{}
		if req.Mix != nil {
			opts = *req.Mix
		}
		res, err = media.Mixdown(ctx, req.Srcs, req.Dst, opts)
	default:
		err = parley.Errorf(parley.EINTERNAL, "media exec: unknown operation %q", req.Op)
	}
	if err != nil && parley.ErrorCode(err) == parley.EINTERNAL && isENOMEM(err) {
		err = parley.WrapError(parley.EINVALID, err, "%s: decoding it needs more memory than the limit of %d MiB (PARLEY_MEDIA_MAX_MEMORY)",
			media.DisplayName(req.Src), maxMemory>>20)
	}
	return reply(stdout, res, err)
}

// niceSelf lowers the priority of every thread of this process (Linux
// keeps it per thread; threads started later, FFmpeg's too, inherit it
// from the thread that starts them). Lowering one's own priority needs no
// privilege.
func niceSelf(n int) error {
	for range 2 { // a thread started during the first pass
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
		}
	}
	return nil
}

func isENOMEM(err error) bool {
	return errors.Is(err, syscall.ENOMEM) || strings.Contains(err.Error(), "Cannot allocate memory")
}

func reply(w io.Writer, res any, opErr error) error {
	var a struct {
		Result any `json:"result,omitempty"`
		Error  any `json:"error,omitempty"`
	}
	if opErr != nil {
		msg := parley.ErrorMessage(opErr)
		if parley.ErrorCode(opErr) == parley.EINTERNAL {
			msg = opErr.Error()
		}
		a.Error = map[string]string{"code": parley.ErrorCode(opErr), "message": msg}
	} else {
		a.Result = res
	}
	if err := json.NewEncoder(w).Encode(a); err != nil {
		return err
	}
	if opErr != nil {
		return opErr
	}
	return nil
}

// applyLimits sets the process's own data and CPU-time limits. The CPU
// limit's soft value delivers SIGXCPU (which the Go runtime ignores unless
// asked), the hard value, a few seconds later, SIGKILL.
func applyLimits(maxMemory int64, maxCPU time.Duration) error {
	if maxMemory > 0 {
		if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(maxMemory), Max: uint64(maxMemory)}); err != nil {
			return fmt.Errorf("media exec: set the memory limit: %w", err)
		}
	}
	if maxCPU > 0 {
		s := uint64(max(maxCPU.Seconds(), 1))
		if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: s, Max: s}); err != nil {
			return fmt.Errorf("media exec: set the CPU-time limit: %w", err)
		}
	}
	return nil
}
