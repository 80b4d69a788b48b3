package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostsales/hostsales/market"
)

// digest is what a restarted node must find again: time, requests, the
// slots' bookkeeping and the balances.
func (c *chain) digest(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	bal := c.m.BalanceOf(host)
	fmt.Fprintln(&b, c.clock.Now(), bal.Dec())
	for _, id := range c.m.Requests() {
		st, err := c.m.As(host).RequestState(context.Background(), id)
		require.NoError(t, err)
		fmt.Fprintln(&b, id, st)
		req, err := c.m.As(host).GetRequest(context.Background(), id)
		require.NoError(t, err)
		for i := range req.Ask.Slots {
			fmt.Fprintf(&b, "  %d %+v\n", i, c.m.SlotInfo(market.SlotIDFor(id, i)))
		}
	}
	return b.String()
}

// A chain reopened from its journal is the chain that was closed: the
// same requests, slots, balances and time, and it goes on from there.
func TestChainReplaysItsJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := openChain(dir, 7, 1_700_000_000)
	require.NoError(t, err)
	var ids []market.RequestID
	for i := range 3 {
		id, err := c.Submit(i)
		require.NoError(t, err)
		ids = append(ids, id)
		require.NoError(t, c.Advance(7))
	}
	h := c.Host()
	require.NoError(t, h.ReserveSlot(ctx, ids[1], 0))
	coll, err := h.SlotCollateral(ctx, ids[1], 0)
	require.NoError(t, err)
	require.NoError(t, h.FillSlot(ctx, ids[1], 0, market.Proof("proof"), coll))
	assert.Error(t, h.FillSlot(ctx, ids[1], 0, market.Proof("proof"), coll), "a refused call is not journaled")
	for range 4 {
		require.NoError(t, c.Advance(30))
	}
	want := c.digest(t)
	mine, err := h.MySlots(ctx)
	require.NoError(t, err)
	require.Len(t, mine, 1)
	require.NoError(t, c.Close())

	again, err := openChain(dir, 99, 5) // the journal's seed and start win
	require.NoError(t, err)
	assert.Equal(t, want, again.digest(t))
	assert.Equal(t, uint64(7), again.seed)
	mineAgain, err := again.Host().MySlots(ctx)
	require.NoError(t, err)
	assert.Equal(t, mine, mineAgain, "the host's slot is still its own")
	require.NoError(t, again.Advance(30))
	require.NoError(t, again.Close())

	// A line cut by a crash ends the journal.
	f, err := os.OpenFile(filepath.Join(dir, journalFile), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"op":"adv`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	third, err := openChain(dir, 7, 0)
	require.NoError(t, err)
	assert.Equal(t, want[:strings.Index(want, " ")], fmt.Sprint(third.clock.Now()-30))
	require.NoError(t, third.Close())
}
