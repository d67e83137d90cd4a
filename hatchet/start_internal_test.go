package hatchet

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/testenv"
)

// TestStartDetectsARunThatNeverStarts: when the engine accepts a trigger
// but never creates the run (here: a name this client wrongly believes
// registered, which the engine answers with a phantom run id), Start
// reports it within StartCheckTimeout instead of returning the id.
func TestStartDetectsARunThatNeverStarts(t *testing.T) {
	t.Parallel()
	testenv.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewClient(Config{Namespace: testenv.Name(t, "ghost"), StartCheckTimeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler), SDKLogOutput: io.Discard})
	require.NoError(t, err)
	c.known.Store("ghost", true) // skip the registration check

	id, err := c.Start(ctx, "ghost", map[string]int{"n": 1}, nil)
	require.ErrorContains(t, err, "did not create the run")
	require.Empty(t, id)
	_, again := c.known.Load("ghost")
	require.False(t, again, "the next Start must check the registration again")
}
