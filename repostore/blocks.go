package repostore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// BlockPut reports the outcome of Txn.PutBlock.
type BlockPut struct {
	Hash Hash
	Size uint64
	// New is true when the block was not stored before.
	New bool
	// Counted is true when the put added a holder (a new tag, or the pin)
	// and so added Size to the used counter.
	Counted bool
}

// Quota accounting of blocks: used counts each block once per holder (each
// tag, and the pin). A block shared by two sales counts for each, so that
// ending one sale never needs quota the other still uses, and dropping a
// holder always gives back exactly what adding it took.

// blockInfo loads a block's metadata, or ErrBlockNotFound.
func (t *Txn) blockInfo(h Hash) (BlockInfo, error) {
	raw, err := t.Get(blockMetaKey(h))
	if errors.Is(err, ds.ErrNotFound) {
		return BlockInfo{}, fmt.Errorf("%w: %s", ErrBlockNotFound, h)
	}
	if err != nil {
		return BlockInfo{}, err
	}
	return decodeBlockInfo(h, raw)
}

// BlockInfo returns the metadata of block h, or an error matching
// ErrBlockNotFound.
func (t *Txn) BlockInfo(h Hash) (BlockInfo, error) { return t.blockInfo(h) }

// GetBlock returns the data of block h, or an error matching ErrBlockNotFound.
func (t *Txn) GetBlock(h Hash) ([]byte, error) {
	b, err := t.Get(blockKey(h))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrBlockNotFound, h)
	}
	return b, err
}

// HasBlock reports whether block h is stored.
func (t *Txn) HasBlock(h Hash) (bool, error) { return t.Has(blockMetaKey(h)) }

func (t *Txn) putInfo(b *BlockInfo) error { return t.Put(blockMetaKey(b.Hash), b.encode()) }

// PutBlock stores data under its content address with the given expiry
// (unix seconds, > 0). A non-empty tag records that the block is held by
// that holder (a reservation); an empty tag pins the block instead.
//
// A block already stored is not written again: its expiry only moves later
// and the tag (or pin) is added. Each new holder adds the block's size to
// the used counter, and fails with a *QuotaError matching ErrQuotaExceeded
// if that exceeds the quota (empty blocks are free).
func (t *Txn) PutBlock(data []byte, expiry int64, tag string) (BlockPut, error) {
	if expiry <= 0 {
		return BlockPut{}, ErrInvalidExpiry
	}
	h := HashOf(data)
	size := uint64(len(data))
	info, err := t.blockInfo(h)
	isNew := errors.Is(err, ErrBlockNotFound)
	if err != nil && !isNew {
		return BlockPut{}, err
	}
	if isNew {
		info = BlockInfo{Hash: h, Size: size, Expiry: expiry}
	}
	counted := false
	if tag == "" {
		counted = !info.Pinned
		info.Pinned = true
	} else {
		counted = info.addTag(tag)
	}
	if !isNew && !counted && expiry <= info.Expiry {
		return BlockPut{Hash: h, Size: info.Size}, nil // nothing changes
	}
	if counted {
		q, err := t.quota.addUsed(size)
		if err != nil {
			return BlockPut{}, err
		}
		t.quota = q
		if tag != "" {
			if err := t.Put(tagKey(tag, h), nil); err != nil {
				return BlockPut{}, err
			}
		}
	}
	if isNew {
		if err := t.Put(blockKey(h), data); err != nil {
			return BlockPut{}, err
		}
		if err := t.Put(expiryKey(expiry, h), nil); err != nil {
			return BlockPut{}, err
		}
		t.blocks++
	} else if expiry > info.Expiry {
		if err := t.moveExpiry(&info, expiry); err != nil {
			return BlockPut{}, err
		}
	}
	if err := t.putInfo(&info); err != nil {
		return BlockPut{}, err
	}
	return BlockPut{Hash: h, Size: size, New: isNew, Counted: counted}, nil
}

func (t *Txn) moveExpiry(info *BlockInfo, expiry int64) error {
	if err := t.Delete(expiryKey(info.Expiry, info.Hash)); err != nil {
		return err
	}
	if err := t.Put(expiryKey(expiry, info.Hash), nil); err != nil {
		return err
	}
	info.Expiry = expiry
	return nil
}

// EnsureExpiry moves the expiry of block h to expiry if that is later than
// its current one; an earlier expiry changes nothing. It fails with
// ErrInvalidExpiry for expiry <= 0 and ErrBlockNotFound for a missing block.
func (t *Txn) EnsureExpiry(h Hash, expiry int64) error {
	if expiry <= 0 {
		return ErrInvalidExpiry
	}
	info, err := t.blockInfo(h)
	if err != nil {
		return err
	}
	if expiry <= info.Expiry {
		return nil
	}
	if err := t.moveExpiry(&info, expiry); err != nil {
		return err
	}
	return t.putInfo(&info)
}

// removeBlock deletes a block with all its metadata and index entries and
// returns its bytes to the used counter.
func (t *Txn) removeBlock(info BlockInfo) error {
	for _, tag := range info.Tags {
		if err := t.Delete(tagKey(tag, info.Hash)); err != nil {
			return err
		}
	}
	for _, k := range []ds.Key{blockKey(info.Hash), blockMetaKey(info.Hash), expiryKey(info.Expiry, info.Hash)} {
		if err := t.Delete(k); err != nil {
			return err
		}
	}
	holders := uint64(len(info.Tags))
	if info.Pinned {
		holders++
	}
	t.quota = t.quota.subUsed(info.Size * holders)
	t.blocks--
	return nil
}

// DeleteBlock removes block h and gives its bytes back. It refuses, with
// ErrBlockTagged, a block still held by a tag; it fails with
// ErrBlockNotFound for a missing block.
func (t *Txn) DeleteBlock(h Hash) error {
	info, err := t.blockInfo(h)
	if err != nil {
		return err
	}
	if len(info.Tags) > 0 {
		return fmt.Errorf("%w: %s held by %d", ErrBlockTagged, h, len(info.Tags))
	}
	return t.removeBlock(info)
}

// TaggedBlocks returns the blocks held by tag, in hash order, skipping
// offset and at most limit of them (0: all).
func (t *Txn) TaggedBlocks(tag string, offset, limit int) ([]Hash, error) {
	entries, err := t.Query(dsq.Query{Prefix: tagPrefix(tag).String(), KeysOnly: true,
		Orders: []dsq.Order{dsq.OrderByKey{}}, Offset: offset, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]Hash, 0, len(entries))
	for _, e := range entries {
		h, err := parseHash(ds.RawKey(e.Key).BaseNamespace())
		if err != nil {
			return nil, &CorruptError{Key: e.Key, Err: err}
		}
		out = append(out, h)
	}
	return out, nil
}

// DropTag removes tag from the blocks it holds, at most limit of them (0:
// all), and gives back the bytes it was counted for. A block left with no
// holder is deleted. It returns the bytes given back and how many blocks
// it released.
func (t *Txn) DropTag(tag string, limit int) (freed uint64, n int, err error) {
	hashes, err := t.TaggedBlocks(tag, 0, limit)
	if err != nil {
		return 0, 0, err
	}
	for _, h := range hashes {
		if err := t.Delete(tagKey(tag, h)); err != nil {
			return freed, n, err
		}
		n++
		info, err := t.blockInfo(h)
		if errors.Is(err, ErrBlockNotFound) {
			continue // a stale index entry
		}
		if err != nil {
			return freed, n, err
		}
		if !info.dropTag(tag) {
			continue
		}
		t.quota = t.quota.subUsed(info.Size)
		freed += info.Size
		if len(info.Tags) == 0 && !info.Pinned {
			info.Tags = nil
			if err := t.removeBlock(info); err != nil { // no holder left: nothing more to subtract
				return freed, n, err
			}
			continue
		}
		if err := t.putInfo(&info); err != nil {
			return freed, n, err
		}
	}
	return freed, n, nil
}

// ExpiryEntry is one row of the expiry index.
type ExpiryEntry struct {
	Hash   Hash
	Expiry int64
}

// Expiries lists the expiry index in time order, skipping offset entries
// and returning at most limit (0 = no limit).
func (t *Txn) Expiries(offset, limit int) ([]ExpiryEntry, error) {
	entries, err := t.Query(dsq.Query{Prefix: expiryRoot.String(), KeysOnly: true,
		Orders: []dsq.Order{dsq.OrderByKey{}}, Offset: offset, Limit: limit})
	if err != nil {
		return nil, err
	}
	return parseExpiries(entries)
}

func parseExpiries(entries []dsq.Entry) ([]ExpiryEntry, error) {
	out := make([]ExpiryEntry, 0, len(entries))
	for _, e := range entries {
		ns := ds.RawKey(e.Key).Namespaces()
		if len(ns) != 4 {
			return nil, &CorruptError{Key: e.Key, Err: errors.New("bad expiry index key")}
		}
		exp, err := strconv.ParseUint(ns[2], 16, 64)
		if err != nil {
			return nil, &CorruptError{Key: e.Key, Err: err}
		}
		h, err := parseHash(ns[3])
		if err != nil {
			return nil, &CorruptError{Key: e.Key, Err: err}
		}
		out = append(out, ExpiryEntry{Hash: h, Expiry: int64(exp)})
	}
	return out, nil
}

// DeleteExpired removes up to limit blocks whose expiry is at or before
// now and that no tag holds (a held block stays until its holders drop it:
// they own its bytes), and returns how many it removed and the bytes given
// back.
func (t *Txn) DeleteExpired(now int64, limit int) (n int, freed uint64, err error) {
	for offset := 0; n < limit; {
		exp, err := t.Expiries(offset, limit)
		if err != nil {
			return n, freed, err
		}
		if len(exp) == 0 {
			return n, freed, nil
		}
		for _, e := range exp {
			if e.Expiry > now || n >= limit {
				return n, freed, nil
			}
			info, err := t.blockInfo(e.Hash)
			if err != nil {
				return n, freed, err
			}
			if len(info.Tags) > 0 {
				offset++
				continue
			}
			if err := t.removeBlock(info); err != nil {
				return n, freed, err
			}
			n++
			freed += info.Size
		}
	}
	return n, freed, nil
}

func parseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("bad hash %q", s)
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}
