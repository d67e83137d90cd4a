//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/api"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// The search corpus: 1,000 one-hour meetings (2-6 speakers, ~150 words a
// minute, Zipf-distributed vocabulary of 20,000 words with English stop
// words and meeting words at realistic ranks; 10% in the trash, 30% in
// rooms), generated once into the test database's schema searchCorpus and
// reused (drop the schema to regenerate). Words are stored like the
// pipeline stores them and indexed with store.RefreshSearch.
const (
	searchCorpus      = "bench_search_v3"
	corpusTranscripts = 1000
	corpusSeconds     = 3600
	wordsPerSecond    = 2.5
)

var stopWords = strings.Fields(`the to and of a i that in we it is you for this on be so have with
	not but are was what as do if can at just they about all like will think there or one our
	going know get would from it's that's an up out more some need`) // "think", "like", "going" ... are not stop words for PostgreSQL

var meetingWords = strings.Fields(`budget launch design review marketing customer roadmap release
	timeline team sprint feature product plan deadline meeting sales revenue quarter goal hiring
	onboarding login mobile backend frontend database migration security incident outage metrics
	dashboard report finance invoice contract vendor partner support ticket bug fix deploy test
	staging production cost savings forecast growth churn retention pricing proposal strategy
	priority risk scope estimate velocity demo feedback survey interview research prototype
	analytics campaign brand website content email newsletter event conference webinar training
	documentation compliance audit legal privacy consent policy approval headcount office travel
	equipment laptop license subscription cloud server cluster latency performance scaling cache
	queue worker pipeline transcript summary recording microphone speaker agenda action decision`)

// corpusVocabulary: stop words first, then meeting words, then made-up
// words, so that Zipf ranks give each class a realistic frequency.
func corpusVocabulary(r *rand.Rand) []string {
	vocab := append(append([]string{}, stopWords...), meetingWords...)
	syll := strings.Fields("ka lo mi ne su ta ri po ve da shi gor ban tel wix qua pre lin dor mes")
	seen := map[string]bool{}
	for _, w := range vocab {
		seen[w] = true
	}
	for len(vocab) < 20000 {
		n := 2 + r.IntN(3)
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return vocab
}

var firstNames = strings.Fields("Alice Bob Carol Dan Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Yvonne")

// ensureCorpus returns a DB on the corpus schema, generating it when it is
// missing or incomplete.
func ensureCorpus(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	url := storetest.DatabaseURL(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var done bool // the generation finished (it creates corpus_complete last)
	_ = conn.QueryRow(ctx, `SELECT count(*) = $1 FROM `+searchCorpus+`.transcripts, `+searchCorpus+`.corpus_complete`,
		corpusTranscripts).Scan(&done)
	if !done {
		_, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+searchCorpus+` CASCADE; CREATE SCHEMA `+searchCorpus)
		require.NoError(t, err)
	}
	db, err := store.Open(ctx, store.Config{URL: url, Schema: searchCorpus, MaxConns: 4, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	if done {
		return db
	}
	t0 := time.Now()
	generateCorpus(t, db)
	t.Logf("generated the search corpus in %s", time.Since(t0).Round(time.Second))
	return db
}

func generateCorpus(t *testing.T, db *store.DB) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(42, 2026))
	vocab := corpusVocabulary(r)
	zipf := rand.NewZipf(r, 1.07, 1, uint64(len(vocab)-1))
	word := func() string { return vocab[zipf.Uint64()] }
	sentence := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = word()
		}
		ws[0] = strings.ToUpper(ws[0][:1]) + ws[0][1:]
		return strings.Join(ws, " ") + "."
	}
	rooms := make([]string, 5)
	for i := range rooms {
		room, err := db.CreateRoom(ctx, parley.Room{Name: fmt.Sprintf("room-%d", i)})
		require.NoError(t, err)
		rooms[i] = room.ID
	}
	conn, err := db.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	now := time.Now()
	for i := 0; i < corpusTranscripts; i++ {
		id := uuid.New()
		var room any
		if r.IntN(10) < 3 {
			room = rooms[r.IntN(len(rooms))]
		}
		var deleted any
		if r.IntN(10) == 0 {
			deleted = now.Add(-time.Duration(r.IntN(20)) * 24 * time.Hour)
		}
		// Over two years, in the order they are made (as meetings are).
		created := now.Add(-time.Duration(corpusTranscripts-i) * 730 * 24 * time.Hour / corpusTranscripts)
		title := fmt.Sprintf("%s %s %s", strings.ToUpper(meetingWords[r.IntN(40)][:1])+meetingWords[r.IntN(40)][1:], word(), "review")
		short := sentence(15) + " " + sentence(20) + " " + sentence(12)
		var long strings.Builder
		long.WriteString("# Quick recap\n\n" + short + "\n\n# Summary\n\n")
		for k := 0; k < 5; k++ {
			long.WriteString("**" + word() + "**\n" + sentence(20) + " " + sentence(25) + "\n\n")
		}
		_, err := conn.Exec(ctx, `INSERT INTO transcripts (id, name, status, title, short_summary, long_summary,
			duration_seconds, room_id, created_at, deleted_at) VALUES ($1, '', 'ended', $2, $3, $4, $5, $6, $7, $8)`,
			id, title, short, long.String(), corpusSeconds, room, created, deleted)
		require.NoError(t, err)
		speakers := 2 + r.IntN(5)
		for s := 0; s < speakers; s++ {
			_, err := conn.Exec(ctx, `INSERT INTO participants (transcript_id, id, speaker, name) VALUES ($1, $2, $3, $4)`,
				id, fmt.Sprintf("speaker-%d", s), s, firstNames[r.IntN(len(firstNames))])
			require.NoError(t, err)
		}
		// Words on meeting time: turns of one speaker, sentences of 6-20
		// words, ~2.5 words a second.
		var words []parley.Word
		at := 0.0
		for at < corpusSeconds {
			sp := r.IntN(speakers)
			turn := 3 + int(r.ExpFloat64()*40)
			for k := 0; k < turn && at < corpusSeconds; k++ {
				w := word()
				if r.IntN(12) == 0 {
					w += "."
				}
				d := 0.25 + r.Float64()*0.3
				words = append(words, parley.Word{Text: w, Start: at, End: at + d, Speaker: sp})
				at += 1 / wordsPerSecond
			}
			at += r.Float64()
		}
		seq := make([]int, speakers)
		rows := make([][]any, len(words))
		for k, w := range words {
			rows[k] = []any{id, w.Speaker, seq[w.Speaker], w.Text, w.Start, w.End}
			seq[w.Speaker]++
		}
		_, err = conn.Conn().CopyFrom(ctx, pgx.Identifier{searchCorpus, "words"},
			[]string{"transcript_id", "speaker", "seq", "text", "start_s", "end_s"}, pgx.CopyFromRows(rows))
		require.NoError(t, err)
		// The index is built as the pipeline builds it.
		require.NoError(t, db.RefreshSearch(ctx, id.String()))
		if i%100 == 99 {
			t.Logf("corpus: %d of %d transcripts", i+1, corpusTranscripts)
		}
	}
	_, err = conn.Exec(ctx, `VACUUM ANALYZE transcripts, participants, words, search_segments, search_meetings`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE corpus_complete (at timestamptz); INSERT INTO corpus_complete VALUES (now())`)
	require.NoError(t, err)
}

type queryTiming struct {
	Query       string  `json:"query"`
	Filter      string  `json:"filter,omitempty"`
	SegmentHits int     `json:"segment_hits"`
	Results     int     `json:"results"`
	P50MS       float64 `json:"p50_ms"`
	P95MS       float64 `json:"p95_ms"`
	MaxMS       float64 `json:"max_ms"`
	HTTPP50MS   float64 `json:"http_p50_ms"`
	HTTPP95MS   float64 `json:"http_p95_ms"`
	// CPUP50MS and CPUP95MS are the PostgreSQL backend's CPU time per
	// query: the work, whatever else the shared machine is doing.
	CPUP50MS float64 `json:"cpu_p50_ms"`
	CPUP95MS float64 `json:"cpu_p95_ms"`
}

// cpuTime is the CPU time a process has used (/proc/PID/schedstat, ns).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	require.NoError(t, err, "the database must run on this machine to measure its CPU time")
	var ns int64
	_, err = fmt.Sscan(string(b), &ns)
	require.NoError(t, err)
	return time.Duration(ns)
}

func percentile(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return round(float64(s[i].Microseconds()) / 1000)
}

// TestSearchSpeed measures GET /v1/search on 1,000 one-hour transcripts:
// every query's p95 must stay under 100 ms.
func TestSearchSpeed(t *testing.T) {
	ctx := context.Background()
	db := ensureCorpus(t)
	var segs, trs int
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM search_segments`).Scan(&segs))
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts`).Scan(&trs))
	var room string
	require.NoError(t, db.Pool().QueryRow(ctx, `SELECT id FROM rooms ORDER BY name LIMIT 1`).Scan(&room))
	t.Logf("corpus: %d transcripts, %d segments", trs, segs)

	// One connection, so that one backend runs every measured query and
	// its CPU time can be read.
	one, err := store.Open(ctx, store.Config{URL: storetest.DatabaseURL(t), Schema: searchCorpus, MaxConns: 1,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer one.Close()
	var pid int
	require.NoError(t, one.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))

	srv := httptest.NewServer(api.New(api.Config{}, api.Deps{DB: db, Log: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	from := time.Now().AddDate(0, -6, 0)
	cases := []struct {
		q      string
		filter string
		sq     func(*store.SearchQuery)
	}{
		{q: "think"},                // a very frequent word (not a stop word)
		{q: "budget"},               // a frequent word
		{q: "roadmap"},              // a less frequent one
		{q: vocabAt(3000)},          // a rare one
		{q: `"budget review"`},      // a phrase
		{q: "budget -marketing"},    // an exclusion
		{q: "launch timeline"},      // two words
		{q: "hiring or onboarding"}, // either
		{q: "zzqxv"},                // nothing
		{q: "the and of"},           // stop words only
		{q: "budget", filter: "room", sq: func(s *store.SearchQuery) { s.RoomID = room }},
		{q: "budget", filter: "last 6 months", sq: func(s *store.SearchQuery) { s.From = &from }},
	}
	var out []queryTiming
	met, metCPU := true, true
	for _, c := range cases {
		sq := store.SearchQuery{Text: c.q}
		if c.sq != nil {
			c.sq(&sq)
		}
		qt := queryTiming{Query: c.q, Filter: c.filter}
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM search_segments
			WHERE tsv @@ websearch_to_tsquery('english', $1)`, c.q).Scan(&qt.SegmentHits))
		var times, cpu []time.Duration
		for i := 0; i < 33; i++ {
			c0 := cpuTime(t, pid)
			t0 := time.Now()
			res, err := one.Search(ctx, sq)
			d := time.Since(t0)
			c1 := cpuTime(t, pid)
			require.NoError(t, err)
			qt.Results = len(res)
			if i >= 3 { // warm-up
				times = append(times, d)
				cpu = append(cpu, c1-c0)
			}
		}
		qt.P50MS, qt.P95MS, qt.MaxMS = percentile(times, 0.5), percentile(times, 0.95), percentile(times, 1)
		qt.CPUP50MS, qt.CPUP95MS = percentile(cpu, 0.5), percentile(cpu, 0.95)
		if qt.CPUP95MS >= 100 {
			metCPU = false
		}
		v := url.Values{"q": {c.q}}
		if sq.RoomID != "" {
			v.Set("room_id", sq.RoomID)
		}
		if sq.From != nil {
			v.Set("from", sq.From.Format(time.RFC3339))
		}
		times = times[:0]
		for i := 0; i < 23; i++ {
			t0 := time.Now()
			resp, err := http.Get(srv.URL + "/v1/search?" + v.Encode())
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			if i >= 3 {
				times = append(times, time.Since(t0))
			}
		}
		qt.HTTPP50MS, qt.HTTPP95MS = percentile(times, 0.5), percentile(times, 0.95)
		if qt.P95MS >= 100 || qt.HTTPP95MS >= 100 {
			met = false
		}
		t.Logf("%-24q %-14s hits %6d  results %3d  p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms  http p95 %6.1f ms  cpu p50 %5.1f p95 %5.1f ms",
			c.q, c.filter, qt.SegmentHits, qt.Results, qt.P50MS, qt.P95MS, qt.MaxMS, qt.HTTPP95MS, qt.CPUP50MS, qt.CPUP95MS)
		out = append(out, qt)
	}
	var pidAfter int
	require.NoError(t, one.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pidAfter))
	require.Equal(t, pid, pidAfter, "one backend ran every measured query")
	load, _ := os.ReadFile("/proc/loadavg") // the machine is shared: say how busy it was
	writeResult(t, "search", map[string]any{"transcripts": trs, "segments": segs,
		"goal": "p95 < 100 ms for every query", "met": met, "met_in_cpu_time": metCPU,
		"queries": out, "loadavg": strings.TrimSpace(string(load))})
	// Wall times depend on what else the machine runs; the backend's CPU
	// time per query does not: that is what fails the benchmark.
	require.True(t, metCPU, "a query's p95 CPU time is 100 ms or more")
	if !met {
		t.Logf("wall-time p95 of 100 ms or more under load %s", strings.TrimSpace(string(load)))
	}
}

// vocabAt returns the corpus vocabulary's word of a given Zipf rank.
func vocabAt(rank int) string {
	return corpusVocabulary(rand.New(rand.NewPCG(42, 2026)))[rank]
}
