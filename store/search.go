package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-dev/parley"
)

// SearchConfig is the PostgreSQL text search configuration of every
// indexed text and every query (see migration 00003).
const SearchConfig = "english"

// refreshSearch rebuilds the search segments of a transcript from its
// words (parley.Segments: the lines of the transcript). The caller holds
// the transcript row's lock, so concurrent rebuilds of one transcript
// serialise and the last one sees every committed word.
func (tx *DB) refreshSearch(ctx context.Context, transcriptID string) error {
	words, err := tx.ListWords(ctx, transcriptID)
	if err != nil {
		return err
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM search_segments WHERE transcript_id = $1`, transcriptID); err != nil {
		return wrapDBError("refresh search index", err)
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM search_meetings WHERE transcript_id = $1`, transcriptID); err != nil {
		return wrapDBError("refresh search index", err)
	}
	segs := parley.Segments(words)
	if len(segs) == 0 {
		return nil
	}
	speakers := make([]int32, len(segs))
	starts := make([]float64, len(segs))
	ends := make([]float64, len(segs))
	texts := make([]string, len(segs))
	for i, s := range segs {
		speakers[i], starts[i], ends[i], texts[i] = int32(s.Speaker), s.Start, s.End, s.Text
	}
	if _, err := tx.q.Exec(ctx, `INSERT INTO search_segments (transcript_id, idx, speaker, start_s, end_s, text, tsv)
		SELECT $1, s.ord - 1, s.speaker, s.start_s, s.end_s, s.text,
			to_tsvector('`+SearchConfig+`', parley_search_text(s.text)) || array_to_tsvector(`+searchTokens+`)
		FROM unnest($2::int[], $3::float8[], $4::float8[], $5::text[]) WITH ORDINALITY AS s(speaker, start_s, end_s, text, ord),
			transcripts t WHERE t.id = $1`,
		transcriptID, speakers, starts, ends, texts); err != nil {
		return wrapDBError("refresh search index", err)
	}
	if _, err := tx.q.Exec(ctx, `INSERT INTO search_meetings (transcript_id, words)
		VALUES ($1, strip(to_tsvector('`+SearchConfig+`', parley_search_text(array_to_string($2::text[], ' ')))))`,
		transcriptID, texts); err != nil {
		return wrapDBError("refresh search index", err)
	}
	return nil
}

// Search tokens: lexemes no query text can produce (the parser splits on
// '#'), added to every segment's vector: its transcript's bucket and room.
// searchTokens is their SQL over transcripts t; bucketSize meetings share a
// bucket.
const bucketSize = 32

var searchTokens = `array_remove(ARRAY['#b' || (t.seq / ` + strconv.Itoa(bucketSize) + `),
	CASE WHEN t.room_id IS NOT NULL THEN '#r' || md5(t.room_id) END], NULL)`

// RefreshSearch rebuilds the search index of a transcript's words. The
// pipeline calls it when a transcript ends; ReplaceTrackWords does the same
// whenever words change.
func (db *DB) RefreshSearch(ctx context.Context, transcriptID string) error {
	return db.InTx(ctx, func(tx *DB) error {
		if err := tx.lockTranscript(ctx, transcriptID, "refresh search index"); err != nil {
			return err
		}
		return tx.refreshSearch(ctx, transcriptID)
	})
}

// lockTranscript takes the transcript row's lock for the transaction; a
// missing transcript is not_found.
func (tx *DB) lockTranscript(ctx context.Context, transcriptID, op string) error {
	tag, err := tx.q.Exec(ctx, `SELECT 1 FROM transcripts WHERE id = $1 FOR UPDATE`, transcriptID)
	if err != nil {
		return wrapDBError(op, err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s not found", transcriptID)
	}
	return nil
}

// backfillSearch indexes the words of transcripts that have words but no
// search segments (transcripts made before the search index existed).
func (db *DB) backfillSearch(ctx context.Context) (int, error) {
	rows, err := db.q.Query(ctx, `SELECT t.id::text FROM transcripts t
		WHERE EXISTS (SELECT 1 FROM words w WHERE w.transcript_id = t.id)
		AND NOT EXISTS (SELECT 1 FROM search_segments s WHERE s.transcript_id = t.id)`)
	if err != nil {
		return 0, wrapDBError("backfill search index", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, wrapDBError("backfill search index", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrapDBError("backfill search index", err)
	}
	for _, id := range ids {
		if err := db.RefreshSearch(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// SearchQuery is a full-text search.
type SearchQuery struct {
	// Text is the query in websearch syntax: words, "quoted phrases",
	// -excluded, or.
	Text string
	// Limit is the number of results. Defaults to 20, at most 100.
	Limit int
	// RoomID, when set, keeps transcripts of that room only.
	RoomID string
	// From and To, when set, keep transcripts created in [From, To).
	From, To *time.Time
	// Meetings bounds the work: results are ranked among the newest this
	// many meetings that can match (all of them when fewer match).
	// Defaults to 200.
	Meetings int
}

// SearchResult is one hit: a segment of a transcript (Start, End, Speaker
// set) or its title or summaries (those nil).
type SearchResult struct {
	TranscriptID string    `json:"transcript_id"`
	Title        string    `json:"title"`
	CreatedAt    time.Time `json:"created_at"`
	Start        *float64  `json:"start"`
	End          *float64  `json:"end"`
	Speaker      *int      `json:"speaker"`
	SpeakerName  *string   `json:"speaker_name"`
	// Snippet is HTML: the matched words in <mark>, everything else
	// escaped.
	Snippet string `json:"snippet"`
	// Rank orders the results (higher first).
	Rank float64 `json:"rank"`
}

// maxQueryChars bounds a search query.
const maxQueryChars = 500

// searchMeetings is SearchQuery.Meetings' default.
const searchMeetings = 200

// Snippet highlight markers: control characters that parley_search_text
// removes from the text, so they can only come from ts_headline.
const (
	markOpen  = "\x02"
	markClose = "\x03"
)

// Search runs a full-text query over the segments, titles and summaries of
// transcripts that are not in the trash, best matches first.
func (db *DB) Search(ctx context.Context, sq SearchQuery) ([]SearchResult, error) {
	text := strings.TrimSpace(sq.Text)
	switch {
	case text == "":
		return nil, parley.Errorf(parley.EINVALID, "q: a search query is required")
	case utf8.RuneCountInString(text) > maxQueryChars:
		return nil, parley.Errorf(parley.EINVALID, "q: at most %d characters", maxQueryChars)
	case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
		return nil, parley.Errorf(parley.EINVALID, "q: not valid UTF-8 text")
	}
	if sq.Limit <= 0 {
		sq.Limit = 20
	}
	sq.Limit = min(sq.Limit, 100)
	if sq.Meetings <= 0 {
		sq.Meetings = searchMeetings
	}
	args := []any{text, sq.Limit}
	filter := ""
	// Dated: a date range without a room leaves most matches of a common
	// word out; the candidates' buckets (a few, dates following seq) keep
	// them from being read.
	dated := (sq.From != nil || sq.To != nil) && sq.RoomID == ""
	roomToken := ""
	if sq.RoomID != "" {
		args = append(args, sq.RoomID)
		filter += fmt.Sprintf(" AND t.room_id = $%d", len(args))
		roomToken = fmt.Sprintf(" && ('''#r' || md5($%d) || '''')::tsquery", len(args))
	}
	if sq.From != nil {
		args = append(args, *sq.From)
		filter += fmt.Sprintf(" AND t.created_at >= $%d", len(args))
	}
	if sq.To != nil {
		args = append(args, *sq.To)
		filter += fmt.Sprintf(" AND t.created_at < $%d", len(args))
	}
	// Segments: the newest searchMeetings meetings that can match (from
	// search_meetings' small index) bound the work; the GIN index of the
	// segments intersects the query with those meetings' bucket tokens
	// (and the room's), and the matches of those meetings are ranked.
	// Titles and summaries: the newest searchMeetings matching transcripts
	// are ranked, at most a quarter of the results. Only the final $2
	// results get a snippet.
	sql := `WITH q AS (
		SELECT query, nullif(regexp_replace(querytree(query), '<(\d+|-)>', '&', 'g'), 'T') AS loose
		FROM websearch_to_tsquery('` + SearchConfig + `', $1) AS query
	),
	cand AS (
		SELECT t.id, t.seq, t.created_at FROM search_meetings m JOIN transcripts t ON t.id = m.transcript_id CROSS JOIN q
		WHERE q.loose <> '' AND m.words @@ q.loose::tsquery AND t.deleted_at IS NULL` + filter + `
		ORDER BY t.seq DESC LIMIT ` + strconv.Itoa(sq.Meetings) + `
	),
	within AS (
		-- The buckets of the candidates when the bound was reached (or a
		-- date range leaves most matches out); else every matching
		-- meeting is a candidate and the query alone (with the room's
		-- token) finds their segments.
		SELECT CASE WHEN count(*) >= ` + strconv.Itoa(sq.Meetings) + ` OR ` + strconv.FormatBool(dated) + `
			THEN q.query && string_agg(DISTINCT '''#b' || (c.seq / ` + strconv.Itoa(bucketSize) + `) || '''', ' | ')::tsquery
			ELSE q.query END` + roomToken + ` AS query
		FROM cand c CROSS JOIN q GROUP BY q.query
	),
	matches AS MATERIALIZED (
		-- Materialized: the GIN index is the only way in (never a walk of
		-- the meetings' segments by primary key).
		SELECT s.transcript_id, s.speaker, s.start_s, s.end_s, s.text, ts_rank(s.tsv, q.query)::float8 AS rank
		FROM within w JOIN search_segments s ON s.tsv @@ w.query CROSS JOIN q
	),
	segs AS (
		SELECT m.*, c.created_at FROM matches m JOIN cand c ON c.id = m.transcript_id
		ORDER BY m.rank DESC, c.created_at DESC, m.start_s LIMIT $2
	),
	metas AS (
		SELECT t.id, t.seq, t.created_at, t.search_title, t.search_summary,
			CASE WHEN t.search_title @@ q.query THEN t.name || ' ' || t.title
				ELSE t.short_summary || E'\n' || t.long_summary END AS text
		FROM transcripts t CROSS JOIN q
		WHERE (t.search_title @@ q.query OR t.search_summary @@ q.query) AND q.loose <> '' AND t.deleted_at IS NULL` + filter + `
		ORDER BY t.seq DESC LIMIT ` + strconv.Itoa(sq.Meetings) + `
	),
	meta AS (
		SELECT m.id AS transcript_id, NULL::int AS speaker, NULL::float8 AS start_s, NULL::float8 AS end_s, m.text,
			greatest(2 * ts_rank(m.search_title, q.query), ts_rank(m.search_summary, q.query))::float8 AS rank, m.created_at
		FROM metas m CROSS JOIN q
		ORDER BY rank DESC, m.created_at DESC LIMIT greatest(1, $2 / 4)
	),
	best AS (
		SELECT * FROM (SELECT * FROM segs UNION ALL SELECT * FROM meta) h
		ORDER BY h.rank DESC, h.created_at DESC, h.start_s NULLS FIRST LIMIT $2
	)
	SELECT b.transcript_id::text, coalesce(nullif(t.name, ''), nullif(t.title, ''), 'Unnamed recording'), b.created_at,
		b.start_s, b.end_s, b.speaker,
		CASE WHEN b.speaker IS NULL THEN NULL
			ELSE coalesce(nullif(p.custom_name, ''), nullif(p.name, ''), 'Speaker ' || (b.speaker + 1)) END,
		ts_headline('` + SearchConfig + `', parley_search_text(b.text), q.query,
			E'StartSel=\x02, StopSel=\x03, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'),
		b.rank
	FROM best b CROSS JOIN q JOIN transcripts t ON t.id = b.transcript_id
	LEFT JOIN participants p ON p.transcript_id = b.transcript_id AND p.speaker = b.speaker
	ORDER BY b.rank DESC, b.created_at DESC, b.start_s NULLS FIRST`
	rows, err := db.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrapDBError("search", err)
	}
	defer rows.Close()
	out := []SearchResult{}
	for rows.Next() {
		var r SearchResult
		if err := rows.Scan(&r.TranscriptID, &r.Title, &r.CreatedAt, &r.Start, &r.End, &r.Speaker, &r.SpeakerName,
			&r.Snippet, &r.Rank); err != nil {
			return nil, wrapDBError("search", err)
		}
		r.Snippet = markSnippet(r.Snippet)
		out = append(out, r)
	}
	return out, wrapDBError("search", rows.Err())
}

// markSnippet turns ts_headline's markers into <mark> elements. The text
// around them was HTML-escaped in SQL; the markers cannot occur in it.
var snippetMarks = strings.NewReplacer(markOpen, "<mark>", markClose, "</mark>", "\n", " ")

func markSnippet(s string) string { return strings.TrimSpace(snippetMarks.Replace(s)) }
