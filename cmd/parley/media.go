package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/media"
	"github.com/parley-dev/parley/media/mediaproc"
)

func init() { register("media", "probe, pad, mix and draw audio tracks", runMedia) }

const mediaUsage = `usage:
  parley media probe FILE
  parley media pad [--offset S|auto] [--shift] [--reuse-original [--split-gaps]] IN OUT
  parley media mixdown -o OUT.mp3 [--waveform OUT.json] IN...
  parley media waveform IN
  parley media split [--max-duration S] [--max-bytes N] IN DIR

Inputs are local files or http(s) URLs. probe, pad, mixdown and split print
JSON on stdout; waveform prints {"waveform":[...]}.
pad writes OUT in the format its extension names: .mp3 (16 kHz mono MP3,
the default for the speech recogniser), .ogg/.opus (16 kHz mono Opus) or
.flac (16 kHz mono FLAC). With --shift the file starts at the track's first
sample instead of at meeting time 0, and "shift" in the output tells the
meeting time of that sample. With --reuse-original nothing is written when
the original can go to the recogniser as it is ("use_original"); with
--split-gaps too, a WebM/Ogg Opus track whose only timestamp jumps are mute
gaps is split into OUT.seg000.webm, OUT.seg001.webm... by stream copy
("segments", each with its "shift").`

// runMedia is `parley media`: the media engine's operations on local files
// or URLs (see ../../shared/spec/contract.md §1).
func runMedia(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.Stderr, mediaUsage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	out := json.NewEncoder(env.Stdout)
	out.SetIndent("", "  ")
	switch cmd, rest := args[0], args[1:]; cmd {
	case "probe":
		fs := newMediaFlags("probe", env)
		if err := parseMediaFlags(fs, rest, 1, 1); err != nil {
			return err
		}
		info, err := media.Probe(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return out.Encode(info)
	case "pad":
		return mediaPad(ctx, env, out, rest)
	case "mixdown":
		return mediaMixdown(ctx, env, out, rest)
	case "waveform":
		fs := newMediaFlags("waveform", env)
		if err := parseMediaFlags(fs, rest, 1, 1); err != nil {
			return err
		}
		w, err := media.Waveform(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return json.NewEncoder(env.Stdout).Encode(map[string][]float64{"waveform": w})
	case "exec":
		// Parley's own use: one operation on untrusted input, asked on
		// stdin, answered on stdout (package mediaproc).
		fs := newMediaFlags("exec", env)
		maxMem := fs.Int64("max-memory", mediaproc.DefaultMaxMemory, "data limit in bytes")
		maxCPU := fs.Int64("max-cpu", int64(mediaproc.DefaultMaxCPU.Seconds()), "CPU-time limit in seconds")
		if err := parseMediaFlags(fs, rest, 0, 0); err != nil {
			return err
		}
		if err := mediaproc.Serve(ctx, env.Stdin, env.Stdout, *maxMem, time.Duration(*maxCPU)*time.Second); err != nil {
			return &exitError{code: 1} // the answer on stdout says why
		}
		return nil
	case "split":
		fs := newMediaFlags("split", env)
		maxDur := fs.Float64("max-duration", 0, "longest piece in seconds (default 1200 unless --max-bytes is given)")
		maxBytes := fs.Int64("max-bytes", 0, "largest piece in bytes (e.g. 26214400)")
		if err := parseMediaFlags(fs, rest, 2, 2); err != nil {
			return err
		}
		pieces, err := media.Split(ctx, fs.Arg(0), fs.Arg(1), media.SplitOptions{MaxDuration: *maxDur, MaxBytes: *maxBytes})
		if err != nil {
			return err
		}
		return out.Encode(map[string][]media.Piece{"pieces": pieces})
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown operation %q\n%s", args[0], mediaUsage)}
}

func mediaPad(ctx context.Context, env *Env, out *json.Encoder, args []string) error {
	fs := newMediaFlags("pad", env)
	offset := fs.String("offset", "auto", "start offset in seconds, or auto (from the track's timestamps)")
	shift := fs.Bool("shift", false, "start the file at the track's first sample (no leading silence); print the shift")
	reuse := fs.Bool("reuse-original", false, "with --shift: write nothing when the original can go to the recogniser as is")
	split := fs.Bool("split-gaps", false, "with --reuse-original: split a track whose only jumps are mute gaps into segments (stream copy)")
	if err := parseMediaFlags(fs, args, 2, 2); err != nil {
		return err
	}
	in, dst := fs.Arg(0), fs.Arg(1)
	opts := media.PadOptions{LeadingSilence: !*shift, ReuseOriginal: *reuse, SplitGaps: *split}
	switch ext := strings.ToLower(filepath.Ext(dst)); ext {
	case "", ".mp3":
		opts.Format = media.FormatASR
	case ".ogg", ".opus", ".flac":
		opts.Format = media.FormatForPath(dst, media.FormatASR)
	default:
		return parley.Errorf(parley.EINVALID, "%s: unsupported output extension %s (use .mp3, .ogg or .flac)", dst, ext)
	}
	if *offset != "auto" {
		v, err := strconv.ParseFloat(*offset, 64)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--offset: %q is not a number of seconds or auto", *offset)}
		}
		opts.Offset = &v
	}
	res, err := media.Pad(ctx, in, dst, opts)
	if err != nil {
		return err
	}
	return out.Encode(res)
}

func mediaMixdown(ctx context.Context, env *Env, out *json.Encoder, args []string) error {
	fs := newMediaFlags("mixdown", env)
	dst := fs.String("o", "", "output MP3 (required)")
	wave := fs.String("waveform", "", "also write the waveform JSON {\"waveform\":[...]} here")
	if err := parseMediaFlags(fs, args, 1, -1); err != nil {
		return err
	}
	if *dst == "" {
		return &exitError{code: 2, err: errors.New("mixdown: -o OUT.mp3 is required")}
	}
	res, err := media.Mixdown(ctx, fs.Args(), *dst, media.MixOptions{})
	if err != nil {
		return err
	}
	if *wave != "" {
		b, err := json.Marshal(map[string][]float64{"waveform": res.Waveform})
		if err != nil {
			return fmt.Errorf("mixdown: waveform: %w", err)
		}
		if err := os.WriteFile(*wave, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("mixdown: waveform: %w", err)
		}
	}
	return out.Encode(struct {
		Output         string  `json:"output"`
		Duration       float64 `json:"duration"`
		Tracks         int     `json:"tracks"`
		LimitedSamples int64   `json:"limited_samples"`
	}{*dst, res.Duration, res.Tracks, res.LimitedSamples})
}

func newMediaFlags(name string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet("parley media "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, mediaUsage)
		fs.PrintDefaults()
	}
	return fs
}

// parseMediaFlags parses flags given before or after the positional
// arguments and checks their count (maxArgs < 0: no maximum).
func parseMediaFlags(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return &exitError{code: 0}
			}
			return &exitError{code: 2}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := fs.Parse(append([]string{"--"}, pos...)); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() < minArgs || (maxArgs >= 0 && fs.NArg() > maxArgs) {
		return &exitError{code: 2, err: fmt.Errorf("%s: wrong number of arguments\n%s", fs.Name(), mediaUsage)}
	}
	return nil
}
