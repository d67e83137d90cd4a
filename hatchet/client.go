package hatchet

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	v0client "github.com/hatchet-dev/hatchet/pkg/client"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	sdk "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/rs/zerolog"

	"github.com/parley-dev/parley"
)

// Config configures the Hatchet client. Connection settings come from the
// SDK's own environment variables (HATCHET_CLIENT_TOKEN,
// HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_SERVER_URL,
// HATCHET_CLIENT_TLS_STRATEGY, HATCHET_CLIENT_NAMESPACE), unchanged.
type Config struct {
	// Token overrides HATCHET_CLIENT_TOKEN. One of them is required.
	Token string
	// Namespace prefixes workflow names (tests use it for isolation).
	// Defaults to HATCHET_CLIENT_NAMESPACE.
	Namespace string
	// Debug (HATCHET_DEBUG=true) turns the SDK's client and worker loggers
	// to debug and makes the task adapter log every task start, finish and
	// retry. Defaults to false: SDK logs at warn.
	Debug bool
	// Logger receives the adapter's own logs. Defaults to slog.Default().
	Logger *slog.Logger
	// SDKLogOutput receives the SDK's zerolog output. Defaults to stderr.
	SDKLogOutput io.Writer
	// StartCheckTimeout bounds how long Start waits for the engine to
	// create a triggered run before it reports the trigger as lost.
	// Defaults to 10 s.
	StartCheckTimeout time.Duration
}

// Client is a connected Hatchet client.
type Client struct {
	sdk       *sdk.Client
	log       *slog.Logger
	debug     bool
	zl        zerolog.Logger
	namespace string
	// startCheck is Config.StartCheckTimeout.
	startCheck time.Duration
	// known holds the workflows the engine is known to have registered.
	known sync.Map
	// dashboard is the tenant's dashboard URL (RunURL); "" when unknown.
	dashboard string
	// rest is the engine's REST API for what the SDK lacks (nil when its
	// address is unknown).
	rest *rest.ClientWithResponses
}

// NewClient builds a client from cfg and the environment. Unlike the SDK,
// it returns an error (never panics) when the token is missing or invalid.
func NewClient(cfg Config) (c *Client, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Token == "" && os.Getenv("HATCHET_CLIENT_TOKEN") == "" {
		return nil, parley.Errorf(parley.EINVALID,
			"HATCHET_CLIENT_TOKEN is not set: create a worker token (make up writes one into .stack/env)")
	}
	if cfg.SDKLogOutput == nil {
		cfg.SDKLogOutput = os.Stderr
	}
	level := zerolog.WarnLevel
	if cfg.Debug {
		level = zerolog.DebugLevel
	}
	zl := zerolog.New(zerolog.ConsoleWriter{Out: cfg.SDKLogOutput, NoColor: true}).Level(level).With().
		Timestamp().Str("component", "hatchet-sdk").Logger()
	opts := []v0client.ClientOpt{v0client.WithLogger(&zl)}
	if cfg.Token != "" {
		opts = append(opts, v0client.WithToken(cfg.Token))
	}
	if cfg.Namespace != "" {
		opts = append(opts, v0client.WithNamespace(strings.ToLower(cfg.Namespace)))
	}
	defer func() {
		// The SDK panics on configuration errors (bad token, bad TLS
		// settings); turn that into an error naming the cause.
		if r := recover(); r != nil {
			c, err = nil, parley.Errorf(parley.EINVALID, "hatchet client configuration: %v", r)
		}
	}()
	s, err := sdk.NewClient(opts...)
	if err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "create hatchet client")
	}
	return &Client{sdk: s, log: cfg.Logger, debug: cfg.Debug, zl: zl, namespace: cfg.Namespace,
		startCheck: cmp.Or(cfg.StartCheckTimeout, 10*time.Second), dashboard: dashboardBase(cfg.Token),
		rest: restClient(cfg.Token)}, nil
}

// SDK returns the underlying SDK client, for wiring code in this module
// (workflow declarations, the runs API).
func (c *Client) SDK() *sdk.Client { return c.sdk }

// Ping checks the engine answers (used by /readyz).
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.sdk.GetEngineVersion(ctx); err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "hatchet engine unreachable")
	}
	return nil
}

// EngineVersion returns the engine's version string.
func (c *Client) EngineVersion(ctx context.Context) (string, error) {
	v, err := c.sdk.GetEngineVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("engine version: %w", err)
	}
	return v, nil
}
