// Package store persists Parley's state: PostgreSQL through pgx (schema
// migrations embedded and applied by `parley migrate`) and object storage
// through minio-go (S3 or MinIO). Database errors leave it as parley.Error
// values with codes.
package store
