package sim

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A node's state is re-read and re-checked after a step only when the
// step may have changed it (a put or delete under the reservations'
// prefix, a quota change, a restart). Reading it after every other step
// too finds it unchanged every time, in every built-in scenario (faults,
// crashes, operator actions), and changes nothing of the run.
func TestSkippedReadsLoseNothing(t *testing.T) {
	t.Parallel()
	for _, name := range BuiltinNames() {
		if name == "sigkill" {
			continue // crash's crashes, through children: slow, and nothing more to see
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, err := Builtin(name)
			require.NoError(t, err)
			short := *sc
			short.Steps = 1200
			plain, err := Run(context.Background(), &short, Config{Seed: 1})
			require.NoError(t, err)
			verified, err := Run(context.Background(), &short, Config{Seed: 1, verifyUnchanged: true})
			require.NoError(t, err)
			if v := verified.Violation; v != nil {
				assert.NotEqual(t, "harness", v.Invariant, "%v", v)
			}
			assert.Equal(t, plain.Violation, verified.Violation)
			assert.Equal(t, plain.TraceHash, verified.TraceHash)
			assert.Equal(t, plain.Summary, verified.Summary)
			if name == "storm" {
				assert.Positive(t, plain.Summary.Crashes, "a restart is among the steps verified")
			}
		})
	}
}
