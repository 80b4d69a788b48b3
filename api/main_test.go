package api_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the suite, then fails it when an operation or a response
// status of the OpenAPI document was never exercised (on a full run only:
// -run, -skip and -fuzz select a part), and when a goroutine leaked.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && fullRun() {
		ops, statuses, err := checkCoverage()
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		case len(ops) > 0:
			fmt.Fprintf(os.Stderr, "FAIL: documented operations no test exercised:\n\t%s\n", strings.Join(ops, "\n\t"))
			code = 1
		case len(statuses) > 0:
			fmt.Fprintf(os.Stderr, "FAIL: documented responses no test received:\n\t%s\n", strings.Join(statuses, "\n\t"))
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func fullRun() bool {
	for _, name := range []string{"test.run", "test.skip", "test.fuzz"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}
