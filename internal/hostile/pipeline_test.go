package hostile_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/media/mediaproc"
	"github.com/parley-dev/parley/store"
)

type accepted struct {
	TranscriptID string `json:"transcript_id"`
}

// TestHostilePipeline sends hostile recordings and settings through the
// worker: media bombs and playlists fail at pad_track as invalid (not
// retried), webhooks to loopback and private addresses are refused by the
// egress policy, a consent denial deletes nothing it does not own.
// mediaSteps are the steps that read a track first: pad_track (in the
// track's TrackProcessing child) and mixdown_tracks run side by side, and
// a track that is not audio fails whichever reads it first; the run is
// then cancelled, so the other may never fail. Both name the file.
var mediaSteps = []string{"pad_track", "mixdown_tracks"}

func TestHostilePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The test hook: a media child whose input is named *crashme*, or is
	// an upload (the upload check), kills itself, as a decoder crash on a
	// crafted file would.
	s := e2e.New(t, e2e.Options{Env: map[string]string{mediaproc.CrashEnv: "crashme,/uploads/"}})
	worker := s.StartWorker()
	serve := s.StartServe()
	ready := watchReady(t, s.APIURL)
	dir := t.TempDir()
	put := func(t *testing.T, name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return s.Upload(ctx, p, "room-hostile/"+name)
	}
	meeting := func(name string) string { return filepath.Join(testenv.Root(t), "testdata", "meeting", name) }

	t.Run("MediaBombs", func(t *testing.T) {
		target := newListener(t)
		for _, tc := range []struct {
			name, file string
			body       []byte
			msg        string
		}{
			{"OneHertz", "onehz.wav", hostileWAV(1, 1, 1, 2, 16, 4096), "a sample rate of 1 Hz is outside"},
			{"BlockAlignBomb", "bomb.wav", hostileWAV(1, 1, 1, 16384, 16, 16384), "a sample rate of 1 Hz"},
			{"HLSPlaylist", "playlist.webm", []byte(fmt.Sprintf("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n%s/latest/meta-data/?x.ts\n#EXT-X-ENDLIST\n", target.URL)),
				"not a supported audio file"},
			{"ConcatList", "concat.webm", []byte(fmt.Sprintf("ffconcat version 1.0\nfile '%s/a.wav'\n", target.URL)), "not a supported audio file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				key := put(t, tc.file, tc.body)
				var acc accepted
				require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}}}, &acc))
				tr := s.WaitStatus(ctx, acc.TranscriptID, 2*time.Minute, parley.StatusEnded, parley.StatusError)
				require.Equal(t, parley.StatusError, tr.Status)
				require.Contains(t, mediaSteps, tr.Error.Step, "failed at %s: %s", tr.Error.Step, tr.Error.Message)
				require.Contains(t, tr.Error.Message, tc.file)
				require.Contains(t, tr.Error.Message, tc.msg)
				steps, err := s.DB.ListSteps(ctx, tr.ID)
				require.NoError(t, err)
				for _, st := range steps {
					if st.Name == "pad_track" {
						require.Equal(t, 1, st.Attempts, "invalid input is not retried")
					}
				}
			})
		}
		t.Cleanup(func() { require.Zero(t, target.Requests(), "the worker requested a URL from a file") })
	})

	t.Run("MediaChildCrash", func(t *testing.T) {
		t.Parallel()
		pid := worker.Pid()
		key := s.Upload(ctx, meeting("alice.webm"), "room-hostile/crashme.webm")
		var acc accepted
		require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}}}, &acc))
		tr := s.WaitStatus(ctx, acc.TranscriptID, 2*time.Minute, parley.StatusEnded, parley.StatusError)
		require.Equal(t, parley.StatusError, tr.Status)
		require.Contains(t, mediaSteps, tr.Error.Step, "failed at %s: %s", tr.Error.Step, tr.Error.Message)
		require.Contains(t, tr.Error.Message, "crashme.webm: the media process failed on this input: it was killed by signal killed")
		steps, err := s.DB.ListSteps(ctx, tr.ID)
		require.NoError(t, err)
		for _, st := range steps {
			if st.Name == "pad_track" {
				require.Equal(t, 1, st.Attempts, "a crash is not retried")
			}
		}
		require.Equal(t, pid, worker.Pid())
		require.True(t, worker.Running(), "the worker is still up")

		// The same file at the upload check: serve answers 400 and stays up.
		id, err := s.DB.CreateTranscript(ctx, store.NewTranscript{})
		require.NoError(t, err)
		b, err := os.ReadFile(meeting("alice.webm"))
		require.NoError(t, err)
		status, body := upload(s, id.ID, "crashme.webm", bytes.NewReader(b), int64(len(b)))
		require.Equal(t, 400, status, body)
		require.Contains(t, body, "crashme.webm")
		require.Contains(t, body, "killed by signal")
		require.True(t, serve.Running())
	})

	t.Run("WebhookEgress", func(t *testing.T) {
		t.Parallel()
		target := newListener(t)
		for _, u := range []string{target.URL + "/hook", "http://localhost:" + strings.Split(target.Host, ":")[1] + "/hook",
			"http://10.20.30.40/hook", "http://192.168.0.10:8080/hook", "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/x"} {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			require.Equal(t, 400, s.API(ctx, "POST", "/v1/rooms", map[string]any{"name": "r-" + u, "webhook_url": u}, &e), u)
			require.Contains(t, e.Error.Message, "refused by egress policy", u)
		}
		// A room stored before the policy, or a name that resolves to
		// loopback only when it is used: the delivery itself is refused.
		room, err := s.DB.CreateRoom(ctx, parley.Room{Name: "old-room", WebhookURL: target.URL + "/hook", WebhookSecret: "x"})
		require.NoError(t, err)
		key := s.Upload(ctx, meeting("alice.webm"), "room-hostile/webhook-alice.webm")
		var acc accepted
		require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}},
			"room_id": room.ID}, &acc))
		tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
		require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
		var stepErr string
		s.WaitFor("send_webhook to fail", time.Minute, func() bool {
			steps, err := s.DB.ListSteps(ctx, tr.ID)
			require.NoError(t, err)
			for _, st := range steps {
				if st.Name == "send_webhook" && st.Status == "failed" {
					stepErr = st.Error
					return true
				}
			}
			return false
		})
		require.Contains(t, stepErr, "refused by egress policy")
		require.NotContains(t, stepErr, "403", "nothing about what answered there")
		require.Zero(t, target.Requests())
	})

	t.Run("ConsentDenialOnForeignKeys", func(t *testing.T) {
		t.Parallel()
		// A's upload, and a Daily raw track shared by B1 and B2.
		a, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: "A"})
		require.NoError(t, err)
		aKey := s.Upload(ctx, meeting("alice.webm"), a.ID+"/uploads/alice.webm")
		aMix := s.Upload(ctx, meeting("bob.webm"), a.ID+"/audio.mp3")
		raw := s.Upload(ctx, meeting("carol.webm"), "standup-20261122/1763800000000-raw-cam-audio-1")
		_, err = s.DB.AddTrack(ctx, a.ID, parley.Track{Bucket: s.S3.Bucket(), Key: aKey}, 0)
		require.NoError(t, err)

		// /v1/process refuses A's objects as another transcript's tracks.
		for _, k := range []string{aKey, aMix} {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			require.Equal(t, 400, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": k}}}, &e))
			require.Contains(t, e.Error.Message, "belongs to transcript "+a.ID)
		}

		// Transcripts that reference foreign objects anyway (made before
		// this check): B1 has A's upload and the shared raw track, B2 the
		// raw track.
		mk := func(name string, keys ...string) *parley.Transcript {
			tr, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: name})
			require.NoError(t, err)
			var tracks []parley.Track
			for _, k := range keys {
				tracks = append(tracks, parley.Track{Bucket: s.S3.Bucket(), Key: k})
			}
			require.NoError(t, s.DB.SetTracks(ctx, tr.ID, tracks))
			s.Upload(ctx, meeting("alice.webm"), tr.ID+"/audio.mp3")
			_, err = s.DB.SetStatus(ctx, tr.ID, parley.StatusEnded, nil)
			require.NoError(t, err)
			return tr
		}
		b1 := mk("B1", aKey, raw)
		b2 := mk("B2", raw)
		exists := func(key string) bool {
			ok, err := s.S3.Exists(ctx, s.S3.Bucket(), key)
			require.NoError(t, err)
			return ok
		}
		deny := func(id string) {
			var out map[string]any
			require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+id+"/consent", map[string]any{"consent_given": false}, &out))
			require.Equal(t, true, out["audio_deleted"])
		}
		deny(b1.ID)
		require.False(t, exists(b1.ID+"/audio.mp3"), "B1's own mix is deleted")
		require.True(t, exists(aKey), "A's upload is not B1's to delete")
		require.True(t, exists(aMix))
		require.True(t, exists(raw), "B2 still needs the shared raw track")
		deny(b2.ID)
		require.False(t, exists(raw), "the last transcript that used it deletes the raw track")
		require.False(t, exists(b2.ID+"/audio.mp3"))
		require.True(t, exists(aKey), "nothing of A was deleted")
		require.True(t, exists(aMix))
	})

	t.Cleanup(func() {
		ready.requireAlwaysReady(t)
		requireBounded(t, serve, worker)
	})
}
