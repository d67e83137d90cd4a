package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/parley-dev/parley"
)

// S3Config configures object storage.
type S3Config struct {
	// Endpoint is host:port of an S3-compatible server (S3_ENDPOINT); empty
	// means AWS (s3.amazonaws.com).
	Endpoint string
	// UseTLS (S3_USE_TLS) defaults to true for AWS and false for loopback
	// endpoints.
	UseTLS *bool
	// AccessKey, SecretKey, Region: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// AWS_REGION (default us-east-1).
	AccessKey, SecretKey, Region string
	// Bucket (S3_BUCKET) holds mixed audio and working files. Defaults to
	// "parley".
	Bucket string
	// DailyBucket (DAILY_BUCKET) is where Daily writes raw tracks. Defaults
	// to Bucket.
	DailyBucket string
	// PresignTTL is how long presigned URLs live. Defaults to 2 hours.
	PresignTTL time.Duration
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size    int64
	SHA256  string    // hex, when known
	ModTime time.Time // when known
}

// S3 is object storage through minio-go. Every method names bucket and key
// explicitly; Bucket and DailyBucket tell the configured ones.
type S3 struct {
	client *minio.Client
	cfg    S3Config
}

// OpenS3 creates the client (no network call).
func OpenS3(cfg S3Config) (*S3, error) {
	cfg.Bucket = cmp.Or(cfg.Bucket, "parley")
	cfg.DailyBucket = cmp.Or(cfg.DailyBucket, cfg.Bucket)
	cfg.Region = cmp.Or(cfg.Region, "us-east-1")
	cfg.PresignTTL = cmp.Or(cfg.PresignTTL, 2*time.Hour)
	endpoint := cmp.Or(cfg.Endpoint, "s3.amazonaws.com")
	secure := true
	if cfg.UseTLS != nil {
		secure = *cfg.UseTLS
	} else if isLoopback(endpoint) {
		secure = false
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "S3_ENDPOINT %q is not usable", endpoint)
	}
	return &S3{client: client, cfg: cfg}, nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bucket returns the configured working bucket.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// DailyBucket returns the configured Daily raw-tracks bucket.
func (s *S3) DailyBucket() string { return s.cfg.DailyBucket }

// AllowedBucket reports whether b is one of the configured buckets.
func (s *S3) AllowedBucket(b string) bool { return b == s.cfg.Bucket || b == s.cfg.DailyBucket }

// EnsureBucket creates the bucket if it does not exist.
func (s *S3) EnsureBucket(ctx context.Context, bucket string) error {
	ok, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		return wrapS3Error("check bucket "+bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists" {
			return nil
		}
		return wrapS3Error("create bucket "+bucket, err)
	}
	return nil
}

// Ping checks that the working bucket is reachable.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return wrapS3Error("reach storage", err)
	}
	if !ok {
		return parley.Errorf(parley.ENOTFOUND, "bucket %q does not exist", s.cfg.Bucket)
	}
	return nil
}

// PartSize is the part size of multipart uploads, and so the memory one
// Put holds at a time: S3's smallest part. Without it minio-go sizes parts
// for a 5 TiB object when the size is unknown (-1), about 528 MiB each.
// With it an object may reach 10000 parts, 48 GiB.
const PartSize = 5 << 20

// Put streams r into bucket/key. size may be -1 (unknown; multipart upload
// in parts of PartSize, so memory stays bounded whatever the size). It
// returns the size and SHA-256 of what was stored.
func (s *S3) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error) {
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, h)}
	_, err := s.client.PutObject(ctx, bucket, key, counted, size, minio.PutObjectOptions{ContentType: contentType, PartSize: PartSize})
	if err != nil {
		if counted.err != nil && !errors.Is(err, counted.err) {
			// The source failed (a body over its limit, a client that
			// went away): that is the error, not what storage made of it.
			err = counted.err
		}
		return ObjectInfo{}, wrapS3Error(fmt.Sprintf("put s3://%s/%s", bucket, key), err)
	}
	return ObjectInfo{Size: counted.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// PutFile uploads a local file.
func (s *S3) PutFile(ctx context.Context, bucket, key, path, contentType string) (ObjectInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return s.Put(ctx, bucket, key, f, st.Size(), contentType)
}

// Get opens bucket/key for streaming (seekable, for range requests). The
// caller closes it.
func (s *S3) Get(ctx context.Context, bucket, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	obj, err := s.client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, wrapS3Error(fmt.Sprintf("get s3://%s/%s", bucket, key), err)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, ObjectInfo{}, wrapS3Error(fmt.Sprintf("get s3://%s/%s", bucket, key), err)
	}
	return obj, ObjectInfo{Size: st.Size, ModTime: st.LastModified}, nil
}

// GetFile downloads bucket/key into a local file.
func (s *S3) GetFile(ctx context.Context, bucket, key, path string) error {
	if err := s.client.FGetObject(ctx, bucket, key, path, minio.GetObjectOptions{}); err != nil {
		return wrapS3Error(fmt.Sprintf("download s3://%s/%s", bucket, key), err)
	}
	return nil
}

// Stat returns an object's size, or a not_found error.
func (s *S3) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	st, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, wrapS3Error(fmt.Sprintf("stat s3://%s/%s", bucket, key), err)
	}
	return ObjectInfo{Size: st.Size}, nil
}

// Exists reports whether bucket/key exists.
func (s *S3) Exists(ctx context.Context, bucket, key string) (bool, error) {
	_, err := s.Stat(ctx, bucket, key)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

// Presign returns a GET URL for bucket/key valid for the configured TTL.
// Presigned URLs are secrets: never log or store them.
func (s *S3) Presign(ctx context.Context, bucket, key string) (string, error) {
	u, err := s.client.PresignedGetObject(ctx, bucket, key, s.cfg.PresignTTL, nil)
	if err != nil {
		return "", wrapS3Error(fmt.Sprintf("presign s3://%s/%s", bucket, key), err)
	}
	return u.String(), nil
}

// Delete removes bucket/key; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, bucket, key string) error {
	err := s.client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return wrapS3Error(fmt.Sprintf("delete s3://%s/%s", bucket, key), err)
	}
	return nil
}

// RemoveBucket deletes an empty bucket (tests clean up with it).
func (s *S3) RemoveBucket(ctx context.Context, bucket string) error {
	return wrapS3Error("remove bucket "+bucket, s.client.RemoveBucket(ctx, bucket))
}

// List returns the keys under prefix in bucket.
func (s *S3) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	for obj := range s.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, wrapS3Error(fmt.Sprintf("list s3://%s/%s", bucket, prefix), obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys, nil
}

type countingReader struct {
	r   io.Reader
	n   int64
	err error // the first error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// wrapS3Error classifies storage errors: missing objects and buckets are
// not_found, access problems unauthorized, 5xx and network errors transient.
func wrapS3Error(op string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchBucket" || resp.StatusCode == http.StatusNotFound:
		return parley.WrapError(parley.ENOTFOUND, err, "%s: not found", op)
	case resp.Code == "AccessDenied" || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch" ||
		resp.StatusCode == http.StatusForbidden:
		return parley.WrapError(parley.EUNAUTHORIZED, err, "%s: access denied", op)
	case resp.StatusCode >= 500:
		return parley.WrapError(parley.ETRANSIENT, err, "%s: storage unavailable", op)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connection refused") {
		return parley.WrapError(parley.ETRANSIENT, err, "%s: storage unavailable", op)
	}
	return fmt.Errorf("%s: %w", op, err)
}
