package sim

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dstest "github.com/ipfs/go-datastore/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The in-memory repo of simulated nodes passes go-datastore's conformance
// suite.
func TestMemStoreConformance(t *testing.T) {
	dstest.SubtestAll(t, newMemStore())
}

// A transaction's writes land together at Commit, and not at all after
// Discard; reads in it see its own writes.
func TestMemStoreTxn(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	a, b := ds.NewKey("/a"), ds.NewKey("/b")
	require.NoError(t, m.Put(ctx, a, []byte("1")))
	tx, err := m.NewTransaction(ctx, false)
	require.NoError(t, err)
	require.NoError(t, tx.Put(ctx, b, []byte("2")))
	require.NoError(t, tx.Delete(ctx, a))
	has, err := tx.Has(ctx, a)
	require.NoError(t, err)
	assert.False(t, has, "the txn sees its delete")
	v, err := tx.Get(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, []byte("2"), v)
	has, err = m.Has(ctx, b)
	require.NoError(t, err)
	assert.False(t, has, "nothing lands before Commit")
	require.NoError(t, tx.Commit(ctx))
	assert.Error(t, tx.Put(ctx, a, nil), "a committed txn takes no more writes")
	has, _ = m.Has(ctx, a)
	assert.False(t, has)
	has, _ = m.Has(ctx, b)
	assert.True(t, has)

	tx, err = m.NewTransaction(ctx, false)
	require.NoError(t, err)
	require.NoError(t, tx.Put(ctx, a, []byte("x")))
	tx.Discard(ctx)
	has, _ = m.Has(ctx, a)
	assert.False(t, has, "a discarded txn leaves nothing")

	require.NoError(t, m.Close())
	_, err = m.Get(ctx, b)
	assert.Error(t, err, "closed")
}
