package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/market/simmarket"
)

// The demo node's chain is the simulated market, which lives in memory. A
// real chain outlives the node; so that a restarted demo node finds its
// sales where it left them, the chain keeps a journal of its inputs in the
// data directory (journalFile) and a restart replays it: simmarket is
// deterministic given its seed and the sequence of its inputs, so the
// replayed market is the one the node left.
//
// The inputs are the clock's advances, the clients' requests and the
// host's state-changing calls. chain serialises them (one mutex), so the
// journal's order is the order the market applied them. Views are not
// inputs and are not serialised.
//
// The journal is appended with a write per input, not synced: a node killed
// with SIGKILL keeps it (the kernel has it), a power loss may lose its
// tail, and the replayed chain then ends a little earlier than the node's
// repo (restore settles what no longer matches).
const journalFile = "simmarket.journal"

// entry is one line of the journal.
type entry struct {
	Op string `json:"op"` // "genesis", "advance", "request", "reserve", "fill", "free", "proof"

	Seed  uint64 `json:"seed,omitempty"`  // genesis
	Start int64  `json:"start,omitempty"` // genesis
	N     uint64 `json:"n,omitempty"`     // advance: seconds

	Client  int              `json:"client,omitempty"` // request: index into clients
	Request market.RequestID `json:"request,omitzero"` // request (the id it got), reserve, fill
	Slot    uint64           `json:"slot,omitempty"`   // reserve, fill
	SlotID  market.SlotID    `json:"slotId,omitzero"`  // free, proof
	Proof   []byte           `json:"proof,omitempty"`  // fill, proof
	Coll    string           `json:"coll,omitempty"`   // fill: collateral, decimal
}

// chain is the simulated market with its journal. The host's view (Host)
// implements market.Market; every method is safe for concurrent use.
type chain struct {
	m     *simmarket.Market
	clock *market.ManualClock
	seed  uint64
	start int64
	gen   simmarket.RequestGen

	mu      sync.Mutex // serialises inputs and journal writes
	f       *os.File
	w       *bufio.Writer
	pending uint64 // advances not yet written (merged into one line)
	replays int    // inputs replayed at open
}

var (
	host    = market.Address{0x40, 0x57}
	clients = []market.Address{{0xc1}, {0xc2}, {0xc3}}
	rivals  = []market.Address{{0x77, 1}, {0x77, 2}}
)

// openChain opens dir's journal, or starts one with seed and start, and
// replays it. The seed and start of an existing journal win over the
// arguments.
func openChain(dir string, seed uint64, start int64) (*chain, error) {
	path := filepath.Join(dir, journalFile)
	var lines []entry
	if f, err := os.Open(path); err == nil {
		lines, err = readJournal(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(lines) > 0 {
		if lines[0].Op != "genesis" {
			return nil, fmt.Errorf("%s does not start with its genesis line", path)
		}
		seed, start = lines[0].Seed, lines[0].Start
	}
	c := &chain{seed: seed, start: start,
		gen: simmarket.RequestGen{MaxSlotSize: 256 << 10, MaxDuration: 3 * 3600, MaxExpiry: 900}}
	var comps []simmarket.Competitor
	for _, r := range rivals {
		comps = append(comps, simmarket.Competitor{Address: r, TakeProbability: 0.35, ReserveDelay: 10, FillDelay: 60})
	}
	var err error
	if c.m, err = simmarket.New(&simmarket.Options{Seed: seed, Start: start, Competitors: comps}); err != nil {
		return nil, err
	}
	for _, a := range append(append([]market.Address{host}, clients...), rivals...) {
		c.m.Mint(a, *uint256.NewInt(1 << 60))
	}
	c.clock = c.m.Clock()
	for i, e := range lines[min(1, len(lines)):] {
		if err := c.apply(e); err != nil {
			return nil, fmt.Errorf("replaying %s, line %d (%s): %w", path, i+2, e.Op, err)
		}
	}
	c.replays = max(0, len(lines)-1)
	if c.f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, err
	}
	c.w = bufio.NewWriter(c.f)
	if len(lines) == 0 {
		if err := c.write(entry{Op: "genesis", Seed: seed, Start: start}); err != nil {
			c.f.Close()
			return nil, err
		}
	}
	return c, nil
}

func readJournal(r io.Reader) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A line cut by a crash ends the journal; anything after it
			// cannot have been applied.
			break
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// apply re-runs one journaled input.
func (c *chain) apply(e entry) error {
	ctx := context.Background()
	h := c.m.As(host)
	switch e.Op {
	case "advance":
		return c.clock.Advance(e.N)
	case "request":
		if e.Client < 0 || e.Client >= len(clients) {
			return fmt.Errorf("client %d out of range", e.Client)
		}
		id, err := c.submitLocked(e.Client)
		if err == nil && id != e.Request {
			err = fmt.Errorf("the replayed request is %s, the journal says %s", id, e.Request)
		}
		return err
	case "reserve":
		return h.ReserveSlot(ctx, e.Request, e.Slot)
	case "fill":
		coll, err := uint256.FromDecimal(e.Coll)
		if err != nil {
			return err
		}
		return h.FillSlot(ctx, e.Request, e.Slot, market.Proof(e.Proof), *coll)
	case "free":
		return h.FreeSlot(ctx, e.SlotID)
	case "proof":
		return h.SubmitProof(ctx, e.SlotID, market.Proof(e.Proof))
	}
	return fmt.Errorf("unknown op %q", e.Op)
}

// write appends e, after the advances pending.
func (c *chain) write(e entry) error {
	if err := c.flushAdvances(); err != nil {
		return err
	}
	return c.writeLine(e)
}

// flushAdvances writes the advances pending as one line.
func (c *chain) flushAdvances() error {
	if c.pending == 0 {
		return nil
	}
	n := c.pending
	c.pending = 0
	return c.writeLine(entry{Op: "advance", N: n})
}

func (c *chain) writeLine(e entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := c.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return c.w.Flush()
}

// Advance moves market time on by n seconds (journaled).
func (c *chain) Advance(n uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.clock.Advance(n); err != nil {
		return err
	}
	c.pending += n
	if c.pending >= 600 { // bound what a power loss can cut
		return c.flushAdvances()
	}
	return nil
}

// Submit has client i ask for storage: a random request from the market's
// seeded stream (journaled).
func (c *chain) Submit(i int) (market.RequestID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := c.submitLocked(i)
	if err != nil {
		return id, err
	}
	return id, c.write(entry{Op: "request", Client: i, Request: id})
}

func (c *chain) submitLocked(i int) (market.RequestID, error) {
	req := c.m.RandomRequest(clients[i], c.gen)
	return c.m.RequestStorage(context.Background(), clients[i], req)
}

// Close writes what is pending and closes the journal.
func (c *chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushAdvances()
	if err == nil {
		err = c.f.Sync()
	}
	return errors.Join(err, c.f.Close())
}

// Host returns the host's view of the chain, journaling its inputs.
func (c *chain) Host() market.Market { return &hostView{Caller: c.m.As(host), c: c} }

// hostView is the host's market.Market: views go straight to the market,
// state-changing calls are serialised with the other inputs and journaled
// when they succeed (a failed call changes nothing).
type hostView struct {
	*simmarket.Caller
	c *chain
}

func (h *hostView) input(e entry, call func() error) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err := call(); err != nil {
		return err
	}
	return h.c.write(e)
}

func (h *hostView) ReserveSlot(ctx context.Context, id market.RequestID, slot uint64) error {
	return h.input(entry{Op: "reserve", Request: id, Slot: slot}, func() error { return h.Caller.ReserveSlot(ctx, id, slot) })
}

func (h *hostView) FillSlot(ctx context.Context, id market.RequestID, slot uint64, proof market.Proof, coll uint256.Int) error {
	return h.input(entry{Op: "fill", Request: id, Slot: slot, Proof: proof, Coll: coll.Dec()},
		func() error { return h.Caller.FillSlot(ctx, id, slot, proof, coll) })
}

func (h *hostView) FreeSlot(ctx context.Context, id market.SlotID) error {
	return h.input(entry{Op: "free", SlotID: id}, func() error { return h.Caller.FreeSlot(ctx, id) })
}

func (h *hostView) SubmitProof(ctx context.Context, id market.SlotID, proof market.Proof) error {
	return h.input(entry{Op: "proof", SlotID: id, Proof: proof}, func() error { return h.Caller.SubmitProof(ctx, id, proof) })
}
