package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s3 := storetest.NewS3(t)
	b := s3.Bucket()
	data := bytes.Repeat([]byte("parley"), 200_000) // 1.2 MB
	sum := sha256.Sum256(data)

	t.Run("PutGetStreaming", func(t *testing.T) {
		t.Parallel()
		info, err := s3.Put(ctx, b, "a/one.bin", bytes.NewReader(data), -1, "application/octet-stream")
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), info.Size)
		require.Equal(t, hex.EncodeToString(sum[:]), info.SHA256)
		r, st, err := s3.Get(ctx, b, "a/one.bin")
		require.NoError(t, err)
		defer r.Close()
		require.Equal(t, int64(len(data)), st.Size)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, data, got)
	})

	t.Run("FilesPresignExistsDelete", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		src := filepath.Join(dir, "in.bin")
		require.NoError(t, os.WriteFile(src, data[:1000], 0o600))
		_, err := s3.PutFile(ctx, b, "b/two.bin", src, "")
		require.NoError(t, err)
		ok, err := s3.Exists(ctx, b, "b/two.bin")
		require.NoError(t, err)
		require.True(t, ok)

		u, err := s3.Presign(ctx, b, "b/two.bin")
		require.NoError(t, err)
		resp, err := http.Get(u)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, data[:1000], body)

		dst := filepath.Join(dir, "out.bin")
		require.NoError(t, s3.GetFile(ctx, b, "b/two.bin", dst))
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		require.Equal(t, data[:1000], got)

		require.NoError(t, s3.Delete(ctx, b, "b/two.bin"))
		require.NoError(t, s3.Delete(ctx, b, "b/two.bin"), "deleting twice is fine")
		ok, err = s3.Exists(ctx, b, "b/two.bin")
		require.NoError(t, err)
		require.False(t, ok)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := s3.Stat(ctx, b, "missing")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, _, err = s3.Get(ctx, b, "missing")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})

	t.Run("ErrWrongCredentials", func(t *testing.T) {
		t.Parallel()
		bad, err := store.OpenS3(store.S3Config{Endpoint: os.Getenv("S3_ENDPOINT"), AccessKey: "nobody", SecretKey: "wrong", Bucket: b})
		require.NoError(t, err)
		err = bad.Ping(ctx)
		require.Equal(t, parley.EUNAUTHORIZED, parley.ErrorCode(err))
	})
}
