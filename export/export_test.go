package export_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/export"
)

func doc() export.Document {
	t := &parley.Transcript{ID: "t1", Name: "Weekly <sync>", Title: "Budget review", DurationSeconds: 12,
		ShortSummary: "Alice proposed a cut.", LongSummary: "# Quick recap\n\nAlice proposed a cut.\n\n# Summary\n\n**Budget**\nOver by ten percent.",
		ActionItems: parley.ActionItems{
			Decisions: []parley.Decision{{Decision: "Cut design", DecidedBy: "Alice"}},
			NextSteps: []parley.NextStep{{Task: "Send the sheet", AssignedTo: "Bob", Deadline: "Friday"}},
		},
		Participants: []parley.Participant{{ID: "a", Name: "Alice", Speaker: 0}, {ID: "b", Name: "Bob", Speaker: 1}},
		CreatedAt:    time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	words := []parley.Word{
		{Text: "Hello", Start: -0.2, End: 0.4, Speaker: 0},
		{Text: "<b>team</b>.", Start: 0.4, End: 1, Speaker: 0},
		{Text: "A --> B", Start: 1.5, End: 2, Speaker: 1},
		{Text: "line\nbreak", Start: 2, End: 2.5, Speaker: 1},
		{Text: "Late", Start: 11.5, End: 12.7, Speaker: 2},
	}
	return export.Document{Transcript: t, Words: words,
		Topics: []parley.Topic{{ID: "x", Title: "Budget", Summary: "The budget.", Timestamp: 0, Duration: 2.5}}}
}

var srtTime = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2}):(\d{2}):(\d{2}),(\d{3})$`)

func TestSRTIsValid(t *testing.T) {
	t.Parallel()
	got := export.SRT(doc())
	blocks := strings.Split(strings.TrimSpace(got), "\n\n")
	require.Len(t, blocks, 3)
	var last float64
	for i, b := range blocks {
		lines := strings.Split(b, "\n")
		require.Len(t, lines, 3, "cue %d: number, time, one line of text: %q", i+1, b)
		require.Equal(t, []string{string(rune('1' + i))}, []string{lines[0]})
		m := srtTime.FindStringSubmatch(lines[1])
		require.NotNil(t, m, lines[1])
		start, end := secs(m[1:5]), secs(m[5:9])
		require.GreaterOrEqual(t, start, last, "cues in order")
		require.GreaterOrEqual(t, end, start)
		require.LessOrEqual(t, end, 12.0, "within the meeting")
		require.GreaterOrEqual(t, start, 0.0)
		last = start
	}
	require.Equal(t, "Alice: Hello <b>team</b>.", strings.Split(blocks[0], "\n")[2])
	require.Equal(t, "Bob: A -> B line break", strings.Split(blocks[1], "\n")[2], "no cue-ending arrows or line breaks")
	require.Equal(t, "Speaker 3: Late", strings.Split(blocks[2], "\n")[2])
}

func secs(p []string) float64 {
	var v [4]float64
	for i, s := range p {
		for _, c := range s {
			v[i] = v[i]*10 + float64(c-'0')
		}
	}
	return v[0]*3600 + v[1]*60 + v[2] + v[3]/1000
}

func TestVTTAndText(t *testing.T) {
	t.Parallel()
	vtt := export.VTT(doc())
	require.True(t, strings.HasPrefix(vtt, "WEBVTT\n"))
	require.Contains(t, vtt, "00:00:00.000 --> 00:00:01.000\n<v Alice>Hello &lt;b&gt;team&lt;/b&gt;.")
	require.Contains(t, vtt, "00:00:11.500 --> 00:00:12.000\n<v Speaker 3>Late", "clamped to the duration")
	require.NotContains(t, vtt, "A --> B")

	txt := export.Text(doc())
	require.Equal(t, "[00:00:00] Alice: Hello <b>team</b>.\n[00:00:01] Bob: A --> B line break\n[00:00:11] Speaker 3: Late\n", txt)
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := export.Markdown(doc())
	for _, want := range []string{
		"# Weekly <sync>\n", "2026-11-22 09:00 UTC · duration 00:00:12 · speakers: Alice, Bob",
		"## Summary\n\nAlice proposed a cut.", "### Quick recap", "- Decision: Cut design (Alice)",
		"- [ ] Send the sheet (Bob, by Friday)", "## Topics\n\n### [00:00:00] Budget\n\nThe budget.",
		"## Transcript\n\n**[00:00:00] Alice:** Hello <b>team</b>.",
	} {
		require.Contains(t, md, want)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	b, err := export.JSON(doc())
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "t1", got["id"])
	require.Len(t, got["words"], 5)
	require.Len(t, got["topics"], 1)
}

func TestFileNames(t *testing.T) {
	t.Parallel()
	for title, want := range map[string]string{
		"Weekly sync":                           "Weekly-sync",
		`../../etc/passwd`:                      "etc-passwd",
		"a\"b\r\nContent-Type: text/html; x=\\": "a-b-Content-Type-text-html-x",
		"Réunion d'équipe":                      "Reunion-d-equipe",
		"会议":                                    "transcript",
		"":                                      "transcript",
		strings.Repeat("x", 300):                strings.Repeat("x", 80),
	} {
		require.Equal(t, want, export.FileName(title), title)
		h := export.ContentDisposition(title, "srt")
		require.NotContains(t, h, "\n")
		require.NotContains(t, h, "\r")
		typ, params, err := mime.ParseMediaType(h)
		require.NoError(t, err, h)
		require.Equal(t, "attachment", typ)
		require.NotContains(t, params["filename"], "/")
		require.True(t, strings.HasSuffix(params["filename"], ".srt"), h)
	}
	_, params, err := mime.ParseMediaType(export.ContentDisposition("会议 2026/11", "md"))
	require.NoError(t, err)
	require.Equal(t, "会议 2026-11.md", params["filename"], "the UTF-8 name (filename*) wins where understood")
}

func TestZip(t *testing.T) {
	t.Parallel()
	mp3 := bytes.Repeat([]byte("ID3 fake mp3 "), 10000)
	var buf bytes.Buffer
	err := export.WriteZip(&buf, doc(), func() (io.ReadCloser, bool, error) {
		return io.NopCloser(bytes.NewReader(mp3)), true, nil
	}, time.Time{})
	require.NoError(t, err)
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err, f.Name)
		require.NotEmpty(t, b)
		if f.Name == "audio.mp3" {
			require.Equal(t, mp3, b)
		}
	}
	require.Equal(t, []string{"transcript.srt", "transcript.vtt", "transcript.txt", "transcript.md", "transcript.json", "audio.mp3"}, names)

	buf.Reset()
	require.NoError(t, export.WriteZip(&buf, doc(), func() (io.ReadCloser, bool, error) { return nil, false, nil }, time.Time{}))
	zr, err = zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	require.Len(t, zr.File, 5, "no audio.mp3 when there is none")

	err = export.WriteZip(io.Discard, doc(), func() (io.ReadCloser, bool, error) {
		return io.NopCloser(&failing{}), true, nil
	}, time.Time{})
	require.ErrorContains(t, err, "audio", "a storage failure mid-copy is an error, not a short ZIP")
}

type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n > 2 {
		return 0, errors.New("connection reset")
	}
	f.n++
	return copy(p, "data"), nil
}
