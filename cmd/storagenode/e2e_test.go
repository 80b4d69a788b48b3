package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The operator's whole story, with the real binaries: build storagenode
// and salesctl, start the node on a free loopback port in a temporary
// directory, create an availability with salesctl, wait for a sale to
// fill, list, update, disable, see delete and fsck refused while the node
// runs, stop the node with SIGTERM, fsck the stopped directory (clean),
// restart the node and see the sales resume.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // a guard against a hang, not a synchroniser
	defer cancel()
	bin := t.TempDir()
	goBuild(t, ctx, bin, "./cmd/storagenode", "./cmd/salesctl")
	dir := filepath.Join(t.TempDir(), "node")

	node := startNode(t, ctx, bin, dir)
	node.waitFor(t, regexp.MustCompile(`msg="storagenode running"`))
	url := node.waitFor(t, regexp.MustCompile(`msg="API listening" url=(http://127\.0\.0\.1:\d+)`))[1]
	ctl := func(args ...string) (string, error) {
		return run(ctx, filepath.Join(bin, "salesctl"), append([]string{"--api", url}, args...)...)
	}
	mustCtl := func(args ...string) string {
		t.Helper()
		out, err := ctl(args...)
		require.NoError(t, err, "salesctl %s:\n%s", strings.Join(args, " "), out)
		return out
	}

	// Create an availability; the node has none (--default-availability=false).
	var avail struct {
		ID        string `json:"id"`
		TotalSize uint64 `json:"totalSize"`
		FreeSize  uint64 `json:"freeSize"`
		Enabled   bool   `json:"enabled"`
	}
	out := mustCtl("--json", "availability", "create", "--size", "96MiB", "--duration", "1d",
		"--min-price", "1", "--collateral", "1000000000000")
	require.NoError(t, json.Unmarshal([]byte(out), &avail), out)
	assert.Equal(t, uint64(96<<20), avail.TotalSize)

	// Wait until the node reports filled slots until one of them is a sale
	// being proven (its request started), then see it over the API.
	type slot struct {
		ID        string `json:"id"`
		SlotIndex uint64 `json:"slotIndex"`
		Request   struct {
			ID string `json:"id"`
		} `json:"request"`
	}
	var slotID string
	for slotID == "" {
		node.waitFor(t, regexp.MustCompile(`msg="slot filled"`))
		var slots []slot
		out = mustCtl("--json", "slots", "list")
		require.NoError(t, json.Unmarshal([]byte(out), &slots), out)
		for _, s := range slots {
			var d struct {
				State string `json:"state"`
			}
			if det, err := ctl("--json", "slots", "get", s.ID); err == nil && json.Unmarshal([]byte(det), &d) == nil &&
				d.State == "SaleProving" {
				slotID = s.ID
				break
			}
		}
	}
	assert.Contains(t, mustCtl("slots", "get", slotID), "Sale")
	assert.Contains(t, mustCtl("slots", "log", slotID), "SaleFilled")
	assert.Contains(t, mustCtl("availability", "list"), avail.ID[2:10])
	assert.NotEmpty(t, strings.TrimSpace(mustCtl("reservations", "list", "--availability", avail.ID)))
	assert.Contains(t, mustCtl("space"), "MiB")
	mustCtl("queue")

	// Update, disable; delete is refused while reservations exist.
	mustCtl("availability", "update", avail.ID, "--size", "128MiB")
	mustCtl("availability", "disable", avail.ID)
	out = mustCtl("--json", "availability", "get", avail.ID)
	require.NoError(t, json.Unmarshal([]byte(out), &avail), out)
	assert.Equal(t, uint64(128<<20), avail.TotalSize)
	assert.False(t, avail.Enabled)
	out, err := ctl("availability", "delete", avail.ID)
	require.Error(t, err, "delete refused while it has reservations:\n%s", out)
	assert.Equal(t, 1, exitStatus(err), out)
	assert.Contains(t, out, "409", "one clear line")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, "one line: %q", out)

	// fsck refuses a directory the node holds, at once.
	out, err = ctl("fsck", "--data-dir", dir)
	require.Error(t, err, out)
	assert.Contains(t, strings.ToLower(out), "running")

	// SIGTERM: a clean stop.
	node.stop(t)
	assert.Contains(t, node.output(), `msg=stopping reason=signal`)

	out = mustCtl("fsck", "--data-dir", dir)
	t.Log("fsck:", out)

	// Restart: the filled sale is restored and runs on.
	node = startNode(t, ctx, bin, dir)
	restored := node.waitFor(t, regexp.MustCompile(`msg="storagenode running".* restoredSales=(\d+)`))
	url = node.waitFor(t, regexp.MustCompile(`msg="API listening" url=(http://127\.0\.0\.1:\d+)`))[1]
	assert.NotEqual(t, "0", restored[1], "the sales were restored; log:\n%s", node.output())
	out = mustCtl("slots", "get", slotID)
	assert.Contains(t, out, "SaleProving", "the restored sale goes on proving:\n%s", out)
	node.stop(t)
}

// goBuild builds the packages' binaries into dir.
func goBuild(t *testing.T, ctx context.Context, dir string, pkgs ...string) {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
}

// run runs a binary and returns its combined output.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOSTSALES_API=", "HOSTSALES_API_TOKEN=", "HOSTSALES_DATA_DIR=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// node is a running storagenode whose log is read line by line.
type node struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	log   strings.Builder
	done  chan error
}

func startNode(t *testing.T, ctx context.Context, bin, dir string) *node {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "storagenode"), "--data-dir", dir, "--api-addr", "127.0.0.1:0",
		"--default-availability=false", "--quota", "256MiB", "--speed", "120", "--tick", "50ms")
	cmd.Env = append(os.Environ(), "HOSTSALES_DATA_DIR=", "HOSTSALES_API_ADDR=")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	n := &node{cmd: cmd, lines: make(chan string, 4096), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			select {
			case n.lines <- sc.Text():
			default: // nobody waits for more lines than the buffer holds
			}
		}
		close(n.lines)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		n.done <- err
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-n.done
		}
	})
	return n
}

// waitFor reads log lines until one matches re and returns its submatches.
func (n *node) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for line := range n.lines {
		if m := re.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	t.Fatalf("the node exited without logging %s; its log:\n%s", re, n.output())
	return nil
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	for range n.lines { // drain, so the node never blocks on its log
	}
	require.NoError(t, <-n.done, "a clean exit on SIGTERM; log:\n%s", n.output())
}
