// Package export renders a transcript in the formats people's tools read:
// SubRip (SRT), WebVTT, plain text, Markdown, JSON, and a ZIP of all of
// them with the meeting's audio. Every renderer is pure (no I/O except the
// writer it is given); the ZIP is streamed.
package export

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
)

// Formats are the export formats, in the order a ZIP holds them.
var Formats = []string{"srt", "vtt", "txt", "md", "json"}

// Document is what the renderers read: the transcript (with participants)
// and its topics and words in meeting-time order.
type Document struct {
	Transcript *parley.Transcript
	Topics     []parley.Topic
	Words      []parley.Word
}

// ContentType returns the Content-Type of a format ("" for an unknown one).
func ContentType(format string) string {
	switch format {
	case "srt":
		return "application/x-subrip; charset=utf-8"
	case "vtt":
		return "text/vtt; charset=utf-8"
	case "txt":
		return "text/plain; charset=utf-8"
	case "md":
		return "text/markdown; charset=utf-8"
	case "json":
		return "application/json; charset=utf-8"
	case "zip":
		return "application/zip"
	}
	return ""
}

// Render writes the document in one of Formats.
func Render(w io.Writer, format string, d Document) error {
	var s string
	switch format {
	case "srt":
		s = SRT(d)
	case "vtt":
		s = VTT(d)
	case "txt":
		s = Text(d)
	case "md":
		s = Markdown(d)
	case "json":
		b, err := JSON(d)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		return parley.Errorf(parley.EINVALID, "format: %q is not one of srt, vtt, txt, md, json, zip", format)
	}
	_, err := io.WriteString(w, s)
	return err
}

// cues are the transcript's segments with times clamped to the meeting
// (never negative, never past the duration when it is known, end >= start).
func cues(d Document) []parley.Segment {
	segs := parley.Segments(d.Words)
	limit := math.Inf(1)
	if d.Transcript != nil && d.Transcript.DurationSeconds > 0 {
		limit = d.Transcript.DurationSeconds
	}
	for i := range segs {
		s := &segs[i]
		s.Start = min(max(s.Start, 0), limit)
		s.End = min(max(s.End, s.Start), limit)
	}
	return segs
}

func participants(d Document) []parley.Participant {
	if d.Transcript == nil {
		return nil
	}
	return d.Transcript.Participants
}

// oneLine makes text safe for one line of a subtitle cue: line breaks
// would end the cue.
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// SRT renders SubRip: numbered cues "HH:MM:SS,mmm --> HH:MM:SS,mmm" with
// "Name: text", one per segment.
func SRT(d Document) string {
	var b strings.Builder
	ps := participants(d)
	for i, s := range cues(d) {
		text := strings.ReplaceAll(oneLine.Replace(s.Text), "-->", "->")
		fmt.Fprintf(&b, "%d\n%s --> %s\n%s: %s\n\n", i+1, clock(s.Start, ","), clock(s.End, ","),
			oneLine.Replace(parley.SpeakerName(ps, s.Speaker)), text)
	}
	return b.String()
}

// VTT renders WebVTT with <v Name> voices, exactly as GET
// /v1/transcripts/{id}/webvtt (notify.WebVTT) with clamped times.
func VTT(d Document) string {
	var words []parley.Word
	for _, s := range cues(d) {
		// Re-time the segment's words so that notify.WebVTT's segments
		// carry the clamped times.
		for j, w := range s.Words {
			if j == 0 {
				w.Start = s.Start
			}
			if j == len(s.Words)-1 {
				w.End = s.End
			}
			words = append(words, w)
		}
	}
	return notify.WebVTT(words, participants(d))
}

// Text renders "[hh:mm:ss] Name: text" lines, one per segment.
func Text(d Document) string {
	var b strings.Builder
	ps := participants(d)
	for _, s := range cues(d) {
		fmt.Fprintf(&b, "[%s] %s: %s\n", hms(s.Start), parley.SpeakerName(ps, s.Speaker), oneLine.Replace(s.Text))
	}
	return b.String()
}

// Markdown renders the title, date and speakers, summary, action items,
// topics and transcript.
func Markdown(d Document) string {
	t := d.Transcript
	if t == nil {
		t = &parley.Transcript{}
	}
	ps := t.Participants
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", oneLine.Replace(t.DisplayTitle()))
	var meta []string
	if !t.CreatedAt.IsZero() {
		meta = append(meta, t.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if t.DurationSeconds > 0 {
		meta = append(meta, "duration "+hms(t.DurationSeconds))
	}
	if len(ps) > 0 {
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = parley.SpeakerName(ps, p.Speaker)
		}
		meta = append(meta, "speakers: "+strings.Join(names, ", "))
	}
	if len(meta) > 0 {
		b.WriteString(strings.Join(meta, " · ") + "\n\n")
	}
	if s := strings.TrimSpace(t.ShortSummary); s != "" || strings.TrimSpace(t.LongSummary) != "" {
		b.WriteString("## Summary\n\n")
		if s != "" {
			b.WriteString(s + "\n\n")
		}
		if l := strings.TrimSpace(t.LongSummary); l != "" {
			b.WriteString(demoteHeadings(l, 2) + "\n\n")
		}
	}
	if len(t.ActionItems.Decisions)+len(t.ActionItems.NextSteps) > 0 {
		b.WriteString("## Action items\n\n")
		for _, dc := range t.ActionItems.Decisions {
			fmt.Fprintf(&b, "- Decision: %s%s\n", oneLine.Replace(dc.Decision), owner(dc.DecidedBy, ""))
		}
		for _, n := range t.ActionItems.NextSteps {
			fmt.Fprintf(&b, "- [ ] %s%s\n", oneLine.Replace(n.Task), owner(n.AssignedTo, n.Deadline))
		}
		b.WriteString("\n")
	}
	if len(d.Topics) > 0 {
		b.WriteString("## Topics\n\n")
		for _, tp := range d.Topics {
			fmt.Fprintf(&b, "### [%s] %s\n\n", hms(tp.Timestamp), oneLine.Replace(tp.Title))
			if s := strings.TrimSpace(tp.Summary); s != "" {
				b.WriteString(s + "\n\n")
			}
		}
	}
	if segs := cues(d); len(segs) > 0 {
		b.WriteString("## Transcript\n\n")
		for _, s := range segs {
			fmt.Fprintf(&b, "**[%s] %s:** %s\n\n", hms(s.Start), oneLine.Replace(parley.SpeakerName(ps, s.Speaker)), oneLine.Replace(s.Text))
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func owner(name, deadline string) string {
	var parts []string
	if name = strings.TrimSpace(name); name != "" {
		parts = append(parts, oneLine.Replace(name))
	}
	if deadline = strings.TrimSpace(deadline); deadline != "" {
		parts = append(parts, "by "+oneLine.Replace(deadline))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// demoteHeadings pushes Markdown headings down by n levels (the long
// summary's "# Quick recap" becomes "### Quick recap" under "## Summary").
func demoteHeadings(md string, n int) string {
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#") {
			lines[i] = strings.Repeat("#", n) + l
		}
	}
	return strings.Join(lines, "\n")
}

// jsonDoc is the transcript document (contract section 4) with topics and
// words, as GET /v1/transcripts/{id}?include=topics,words answers it.
type jsonDoc struct {
	*parley.Transcript
	Topics []parley.Topic `json:"topics"`
	Words  []parley.Word  `json:"words"`
}

// JSON renders the transcript document with its topics and words.
func JSON(d Document) ([]byte, error) {
	doc := jsonDoc{Transcript: d.Transcript, Topics: d.Topics, Words: d.Words}
	if doc.Topics == nil {
		doc.Topics = []parley.Topic{}
	}
	if doc.Words == nil {
		doc.Words = []parley.Word{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export json: %w", err)
	}
	return append(b, '\n'), nil
}

// clock formats seconds as HH:MM:SS<sep>mmm (SRT uses ",", WebVTT ".").
func clock(sec float64, sep string) string {
	ms := int64(math.Round(max(sec, 0) * 1000))
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}

// hms formats seconds as hh:mm:ss.
func hms(sec float64) string {
	s := int64(max(sec, 0))
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// FileName turns a title into a safe file name without extension: ASCII
// letters, digits, '-', '_' and '.', accents dropped, other characters
// (quotes, slashes, control characters) turned into '-', at most 80
// characters; "transcript" when nothing is left.
func FileName(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range title {
		r = fold(r)
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'):
			b.WriteRune(r)
			dash = false
		case r == 0:
			// a combining mark dropped by fold
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= 80 {
			break
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		return "transcript"
	}
	return name
}

// fold maps common accented Latin letters to ASCII (é -> e); combining
// marks to 0.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		return r
	}
	if unicode.Is(unicode.Mn, r) {
		return 0
	}
	const from = "àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőřśšşťùúûüūůűųýÿžźżÀÁÂÃÄÅĀĂĄÇĆČĎÈÉÊËĒĖĘĚÌÍÎÏĪĮŁÑŃŇÒÓÔÕÖØŌŐŘŚŠŞŤÙÚÛÜŪŮŰŲÝŸŽŹŻ"
	const to = "aaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorsssstuuuuuuuuyyzzzAAAAAAAAACCCDEEEEEEEEIIIIIILNNNOOOOOOOORSSSTUUUUUUUUYYZZZ"
	i := 0
	for _, f := range from {
		if f == r {
			return rune(to[i])
		}
		i++
	}
	return r
}

// ContentDisposition is an attachment header for name.ext: an ASCII file
// name (FileName) and, when the title has non-ASCII letters, the UTF-8 name
// as RFC 6266 filename* (also cleaned of quotes, slashes and control
// characters).
func ContentDisposition(title, ext string) string {
	ascii := FileName(title) + "." + ext
	h := fmt.Sprintf(`attachment; filename="%s"`, ascii)
	utf := cleanUTF8Name(title)
	if strings.IndexFunc(utf, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0 {
		h += "; filename*=UTF-8''" + pathEscape(utf+"."+ext)
	}
	return h
}

func cleanUTF8Name(title string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(title) {
		if n >= 80 {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || strings.ContainsRune(`"\/:*?<>|%;`, r) {
			r = '-'
		}
		b.WriteRune(r)
		n++
	}
	return strings.Trim(b.String(), " .-")
}

// pathEscape percent-encodes everything except RFC 5987 attr-chars.
func pathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Audio opens the meeting's mixed audio for the ZIP; ok is false when
// there is none.
type Audio func() (r io.ReadCloser, ok bool, err error)

// WriteZip streams a ZIP of every format (transcript.srt, .vtt, .txt,
// .md, .json) and audio.mp3 when audio has one. Nothing is buffered beyond
// the text files themselves; the MP3 is copied from its reader as is
// (stored, it is compressed already).
func WriteZip(w io.Writer, d Document, audio Audio, modified time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	if modified.IsZero() {
		modified = time.Now()
	}
	for _, f := range Formats {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: "transcript." + f, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return fmt.Errorf("export zip: %w", err)
		}
		if err := Render(fw, f, d); err != nil {
			return fmt.Errorf("export zip: %s: %w", f, err)
		}
	}
	if audio != nil {
		r, ok, err := audio()
		if err != nil {
			return fmt.Errorf("export zip: audio: %w", err)
		}
		if ok {
			defer r.Close()
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: "audio.mp3", Method: zip.Store, Modified: modified})
			if err != nil {
				return fmt.Errorf("export zip: %w", err)
			}
			if _, err := io.Copy(fw, r); err != nil {
				return fmt.Errorf("export zip: audio: %w", err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export zip: %w", err)
	}
	return bw.Flush()
}
