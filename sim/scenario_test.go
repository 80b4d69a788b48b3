package sim_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/sim"
)

var update = flag.Bool("update", false, "copy testdata/scenarios over the built-in scenarios (sim/scenarios)")

const scenarioDir = "../testdata/scenarios"

// The built-in scenarios are exactly the files of testdata/scenarios, so
// the two cannot drift. After editing a file there, run
// `go test ./sim -run TestBuiltinsMatchFiles -update`.
func TestBuiltinsMatchFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.yaml"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	if *update {
		old, err := filepath.Glob("scenarios/*.yaml")
		require.NoError(t, err)
		for _, f := range old {
			require.NoError(t, os.Remove(f))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("scenarios", filepath.Base(f)), data, 0o644))
		}
		t.Log("updated; run the tests again to use the new built-ins")
		return
	}
	assert.Equal(t, names, sim.BuiltinNames(), "the built-ins are the files of %s", scenarioDir)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		got, err := sim.BuiltinYAML(name)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "built-in %s differs from %s: run go test ./sim -run TestBuiltinsMatchFiles -update", name, f)
		fromFile, err := sim.LoadScenario(f)
		require.NoError(t, err)
		builtin, err := sim.Builtin(name)
		require.NoError(t, err)
		assert.Equal(t, fromFile, builtin)
		assert.Equal(t, name, builtin.Name, "a scenario's name is its file's")
		assert.NotEmpty(t, builtin.Description)
	}
	for _, required := range []string{"steady", "flood", "long", "crowd", "operator", "storm", "sigkill"} {
		assert.Contains(t, names, required)
	}
	_, err = sim.Builtin("nope")
	assert.ErrorIs(t, err, sim.ErrInvalidScenario)
}

// Scenario files are read strictly, and every error says where.
func TestParseScenarioErrors(t *testing.T) {
	const ok = `name: t
duration: 60
nodes:
  - name: n
    availabilities:
      - {totalSize: 1000, duration: 100, totalCollateral: 1000}
`
	_, err := sim.ParseScenario([]byte(ok))
	require.NoError(t, err)
	cases := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"unknown field", strings.Replace(ok, "duration: 60", "duration: 60\nspeed: 2", 1),
			[]string{"[3:1]", `unknown field "speed"`}},
		{"unknown nested field", strings.Replace(ok, "  - name: n", "  - name: n\n    disk: true", 1),
			[]string{"[5:5]", `unknown field "disk"`}},
		{"bad type", strings.Replace(ok, "duration: 60", "duration: soon", 1),
			[]string{"[2:11]", "cannot unmarshal"}},
		{"negative size", strings.Replace(ok, "totalSize: 1000", "totalSize: -5", 1),
			[]string{"[6:21]", "overflow"}},
		{"duplicate key", strings.Replace(ok, "duration: 60", "duration: 60\nduration: 70", 1),
			[]string{"[3:1]", `"duration" already defined`}},
		{"syntax", ok + "faults: [\n", []string{"[7:"}},
		{"missing name", strings.Replace(ok, "name: t\n", "", 1), []string{"$.name: is required"}},
		{"no length", strings.Replace(ok, "duration: 60\n", "", 1), []string{"$.duration", "duration or steps is required"}},
		{"no nodes", "name: t\nduration: 60\n", []string{"$.nodes", "at least one node"}},
		{"zero availability size", strings.Replace(ok, "totalSize: 1000", "totalSize: 0", 1),
			[]string{"line 6", "$.nodes[0].availabilities[0].totalSize", "must be positive"}},
		{"bad fault kind", ok + "faults:\n  - kind: meteor\n    probability: 0.1\n",
			[]string{"line 8", "$.faults[0].kind", `"meteor" is not one of`}},
		{"probability above one", ok + "faults:\n  - kind: repair\n    probability: 1.5\n",
			[]string{"line 9", "$.faults[0].probability", "[0, 1]"}},
		{"fault that never strikes", ok + "faults:\n  - kind: repair\n",
			[]string{"line 8", "$.faults[0]", "needs a probability, steps or at"}},
		{"bad market method", ok + "faults:\n  - kind: market-error\n    probability: 0.1\n    methods: [FillSlot, Teleport]\n",
			[]string{"line 10", "$.faults[0].methods[1]", `"Teleport"`}},
		{"unknown node", ok + "crashes:\n  - node: m\n    at: [10]\n",
			[]string{"line 8", "$.crashes[0].node", `no node is named "m"`}},
		{"sigkill in memory", ok + "crashes:\n  - kind: sigkill\n    at: [10]\n",
			[]string{"$.crashes[0].kind", "onDisk"}},
		{"resize without size", ok + "operator:\n  - action: resize\n    node: n\n    at: [10]\n",
			[]string{"$.operator[0].totalSize", "exactly one of totalSize and sizes"}},
		{"range upside down", strings.Replace(ok, "duration: 60\n", "duration: 60\nclients:\n  requests:\n    slots: {min: 4, max: 2}\n", 1),
			[]string{"line 5", "$.clients.requests.slots", "min 4 is above max 2"}},
		{"duplicate node", strings.Replace(ok, "nodes:\n", "nodes:\n  - name: n\n    availabilities:\n      - {totalSize: 1, duration: 1, totalCollateral: 1}\n", 1),
			[]string{"$.nodes[1].name", `"n" is used twice`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := sim.ParseScenario([]byte(tc.doc))
			require.Error(t, err)
			assert.Nil(t, sc)
			assert.True(t, errors.Is(err, sim.ErrInvalidScenario), "%v", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// LoadScenario names the file in its errors.
func TestLoadScenario(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("name: x\nbogus: 1\n"), 0o644))
	_, err := sim.LoadScenario(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), `unknown field "bogus"`)
	_, err = sim.LoadScenario(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.Error(t, err)
}

// Every built-in scenario is valid, and Validate rejects what Run could
// not run.
func TestValidate(t *testing.T) {
	for _, name := range sim.BuiltinNames() {
		sc, err := sim.Builtin(name)
		require.NoError(t, err)
		require.NoError(t, sc.Validate(), name)
	}
	sc, err := sim.Builtin("steady")
	require.NoError(t, err)
	sc.Nodes = slices.Clone(sc.Nodes)
	sc.Nodes[0].Blocks = -1
	assert.ErrorIs(t, sc.Validate(), sim.ErrInvalidScenario)
	_, err = sim.Run(t.Context(), sc, sim.Config{})
	assert.ErrorIs(t, err, sim.ErrInvalidScenario, "Run validates")
}
