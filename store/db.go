package store

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/parley-dev/parley"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultDatabaseURL is the DATABASE_URL used when none is configured.
const DefaultDatabaseURL = "postgres://127.0.0.1:5432/parley?sslmode=disable"

// Config configures the PostgreSQL connection pool.
type Config struct {
	// URL is the connection string. Defaults to DefaultDatabaseURL.
	URL string
	// MaxConns caps the pool. Defaults to 10.
	MaxConns int32
	// Schema, when set, becomes the search_path of every connection (tests
	// use it to get an isolated schema). Defaults to the server's default.
	Schema string
	// Logger receives migration and listener logs. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// DB is Parley's database. Methods are safe for concurrent use. A DB made by
// InTx runs every method inside that transaction.
type DB struct {
	pool   *pgxpool.Pool
	q      querier
	schema string
	log    *slog.Logger
}

// querier is what pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to PostgreSQL. It does not check the schema version; call
// CheckSchema (serve, worker) or Migrate (migrate) next.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg.URL = cmp.Or(cfg.URL, DefaultDatabaseURL)
	cfg.MaxConns = cmp.Or(cfg.MaxConns, 10)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "DATABASE_URL is not a valid PostgreSQL URL")
	}
	pcfg.MaxConns = cfg.MaxConns
	if cfg.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, parley.WrapError(parley.ETRANSIENT, err, "cannot reach the database at %s", redactURL(cfg.URL))
	}
	return &DB{pool: pool, q: pool, schema: cfg.Schema, log: cfg.Logger}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Pool returns the underlying pool (for LISTEN and tests).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return wrapDBError("ping database", err)
	}
	return nil
}

func (db *DB) migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	return goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(db.log))
}

// Migrate applies every pending migration and returns how many ran.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if len(res) > 0 {
		// Transcripts made before the search index: index their words.
		n, err := db.backfillSearch(ctx)
		if err != nil {
			return len(res), fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			db.log.InfoContext(ctx, "search index built for existing transcripts", slog.Int("transcripts", n))
		}
	}
	return len(res), nil
}

// SchemaVersion returns the applied and the latest known schema versions.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.migrator()
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, wrapDBError("schema version", err)
	}
	return current, latest, nil
}

// CheckSchema returns an error naming `parley migrate` when the database
// schema is older than this binary's.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current < latest {
		return parley.Errorf(parley.EINVALID,
			"database schema is at version %d, this binary needs %d: run `parley migrate` first", current, latest)
	}
	return nil
}

// InTx runs fn in a transaction; fn's DB runs every method in it. The
// transaction commits when fn returns nil and rolls back otherwise.
func (db *DB) InTx(ctx context.Context, fn func(tx *DB) error) error {
	if _, ok := db.q.(pgx.Tx); ok {
		return fn(db) // already in a transaction
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return fn(&DB{pool: db.pool, q: tx, schema: db.schema, log: db.log})
	})
	var perr *parley.Error
	if err == nil || errors.As(err, &perr) {
		return err
	}
	// Begin or commit failed (or fn returned a plain error): classify it,
	// so that a lost connection is transient like everywhere else.
	return wrapDBError("transaction", err)
}

// wrapDBError turns a driver error into a parley error with a code: no rows
// is not_found, unique violations are conflicts, connection trouble is
// transient (a retry after the database comes back will work).
func wrapDBError(op string, err error) error {
	if err == nil {
		return nil
	}
	var perr *parley.Error
	if errors.As(err, &perr) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.WrapError(parley.ENOTFOUND, err, "%s: not found", op)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return parley.WrapError(parley.ECONFLICT, err, "%s: already exists", op)
		case pgErr.Code == "23503":
			return parley.WrapError(parley.ENOTFOUND, err, "%s: a referenced record does not exist", op)
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "57P"),         // admin shutdown, crash shutdown, cannot connect now
			pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock
			pgErr.Code == "53300": // too many connections
			return unavailable(op, err)
		case strings.HasPrefix(pgErr.Code, "22"), strings.HasPrefix(pgErr.Code, "23"):
			return parley.WrapError(parley.EINVALID, err, "%s: invalid data", op)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || isConnClosed(err) {
		return unavailable(op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable is a transient error that also matches parley.ErrUnavailable.
func unavailable(op string, err error) error {
	return parley.WrapError(parley.ETRANSIENT, fmt.Errorf("%w: %w", parley.ErrUnavailable, err), "%s: database unavailable", op)
}

func isConnClosed(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "connection reset")
}

// redactURL hides the password of a connection URL for messages.
func redactURL(u string) string {
	cfg, err := pgconn.ParseConfig(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
