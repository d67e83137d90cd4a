package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"
)

// What people do with finished transcripts: search, export, delete.

func init() {
	register("search", "search transcripts: parley search [flags] QUERY", runSearch)
	register("export", "download a transcript: parley export ID --format srt|vtt|txt|md|json|zip [-o FILE]", runExport)
	register("rm", "move a transcript to the trash (or delete it for good): parley rm ID [--permanent]", runRm)
	register("restore", "take a transcript out of the trash: parley restore ID", runRestore)
}

type searchResult struct {
	TranscriptID string    `json:"transcript_id"`
	Title        string    `json:"title"`
	CreatedAt    time.Time `json:"created_at"`
	Start        *float64  `json:"start"`
	End          *float64  `json:"end"`
	Speaker      *int      `json:"speaker"`
	SpeakerName  *string   `json:"speaker_name"`
	Snippet      string    `json:"snippet"`
}

func runSearch(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	limit := fs.Int("limit", 20, "number of results (1-100)")
	room := fs.String("room", "", "only transcripts of this room (its name)")
	from := fs.String("from", "", "only transcripts created on or after this date (2026-11-22) or time (RFC 3339)")
	to := fs.String("to", "", "only transcripts created up to this date (included) or before this time")
	asJSON := fs.Bool("json", false, "print the API's answer as JSON")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, `usage: parley search [flags] QUERY   (QUERY: words, "a phrase", -excluded, or)`)
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		return &exitError{code: 2}
	}
	query := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if query == "" {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("no QUERY given")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	q := url.Values{"q": {query}, "limit": {strconv.Itoa(*limit)}}
	if *room != "" {
		id, err := roomID(ctx, c, *room)
		if err != nil {
			return err
		}
		q.Set("room_id", id)
	}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/search?"+q.Encode(), nil, "", &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(env.Stdout, "%s\n", raw)
		return err
	}
	var res struct {
		Results []searchResult `json:"results"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if len(res.Results) == 0 {
		fmt.Fprintf(env.Stderr, "no transcript matches %q\n", query)
		return &exitError{code: 1}
	}
	tty := false
	if f, ok := env.Stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	for _, r := range res.Results {
		where := "title/summary"
		if r.Start != nil {
			where = "[" + clock(*r.Start) + "]"
			if r.SpeakerName != nil {
				where += " " + *r.SpeakerName
			}
		}
		fmt.Fprintf(env.Stdout, "%s  %s  %s  %s\n", r.TranscriptID, r.CreatedAt.Local().Format("2006-01-02"), r.Title, where)
		fmt.Fprintf(env.Stdout, "    %s\n", plainSnippet(r.Snippet, tty))
	}
	return nil
}

// plainSnippet turns a snippet (HTML: escaped text with <mark>s) into
// terminal text: the marks bold on a terminal, *between stars* otherwise.
func plainSnippet(s string, tty bool) string {
	open, close := "*", "*"
	if tty {
		open, close = "\x1b[1m", "\x1b[0m"
	}
	s = strings.NewReplacer("<mark>", "\x00", "</mark>", "\x01").Replace(s)
	s = html.UnescapeString(s)
	// Unescaped text may hold terminal escapes: drop control characters.
	s = strings.Map(func(r rune) rune {
		if r == 0 || r == 1 {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.NewReplacer("\x00", open, "\x01", close).Replace(s)
}

func runExport(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	format := fs.String("format", "", "srt, vtt, txt, md, json or zip (all of them and audio.mp3)")
	out := fs.String("o", "", "write to FILE (or into a directory, with the server's file name) instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: parley export ID --format srt|vtt|txt|md|json|zip [-o FILE]")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil || fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2}
	}
	if *format == "" {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("--format is required")}
	}
	if *out == "" && *format == "zip" {
		if f, ok := env.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return &exitError{code: 2, err: fmt.Errorf("a zip is binary: give -o FILE (or redirect stdout)")}
		}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	resp, err := c.open(ctx, "/v1/transcripts/"+url.PathEscape(fs.Arg(0))+"/export?format="+url.QueryEscape(*format))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *out == "" {
		if _, err := io.Copy(env.Stdout, resp.Body); err != nil {
			return fmt.Errorf("export: the download broke off: %w", err)
		}
		return nil
	}
	path := *out
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		name := "transcript." + *format
		if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
			if n := filepath.Base(params["filename"]); n != "." && n != "/" && n != "" && !strings.HasPrefix(n, ".") {
				name = n
			}
		}
		path = filepath.Join(path, name)
	}
	if err := writeFileAtomic(path, resp.Body); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", path)
	return nil
}

// writeFileAtomic writes r to path through a temporary file in the same
// directory: a broken download never leaves a partial file at path.
func writeFileAtomic(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("the download broke off: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func runRm(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	permanent := fs.Bool("permanent", false, "delete for good: rows and every stored object (audio, uploads); no restore")
	if err := parseInterspersed(fs, args); err != nil || fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("usage: parley rm ID [--permanent]")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	id := fs.Arg(0)
	path := "/v1/transcripts/" + url.PathEscape(id)
	if *permanent {
		var res struct {
			DeletedObjects int `json:"deleted_objects"`
		}
		if err := c.do(ctx, http.MethodDelete, path+"?permanent=true", nil, "", &res); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted %s for good (%d stored objects)\n", id, res.DeletedObjects)
		return nil
	}
	if err := c.do(ctx, http.MethodDelete, path, nil, "", nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "moved %s to the trash (parley restore %s brings it back)\n", id, id)
	return nil
}

func runRestore(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := parseInterspersed(fs, args); err != nil || fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("usage: parley restore ID")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg)
	id := fs.Arg(0)
	if err := c.postJSON(ctx, "/v1/transcripts/"+url.PathEscape(id)+"/restore", map[string]any{}, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %s\n", id)
	return nil
}
