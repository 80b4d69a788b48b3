package sales_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		killChild(dir, os.Getenv(killSeedEnv)) // never returns
	}
	goleak.VerifyTestMain(m)
}
