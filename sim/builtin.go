package sim

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

// The built-in scenarios are the files of testdata/scenarios at the
// module root, copied here so they can be embedded (go:embed cannot reach
// outside the package). TestBuiltinsMatchFiles fails when the two differ;
// `go test ./sim -run TestBuiltinsMatchFiles -update` copies
// testdata/scenarios over.
//
//go:embed scenarios/*.yaml
var builtinFS embed.FS

// BuiltinNames returns the names of the built-in scenarios, sorted.
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("scenarios")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// BuiltinYAML returns the YAML text of built-in scenario name.
func BuiltinYAML(name string) ([]byte, error) {
	if !slices.Contains(BuiltinNames(), name) {
		return nil, fmt.Errorf("%w: no built-in scenario %q (have %s)", ErrInvalidScenario, name,
			strings.Join(BuiltinNames(), ", "))
	}
	return builtinFS.ReadFile(path.Join("scenarios", name+".yaml"))
}

// Builtin returns a fresh copy of built-in scenario name (one of
// BuiltinNames); the caller may change it.
func Builtin(name string) (*Scenario, error) {
	data, err := BuiltinYAML(name)
	if err != nil {
		return nil, err
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("built-in %s: %w", name, err)
	}
	return sc, nil
}
