package repostore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// Hash is the content address of a block: the SHA-256 of its data.
type Hash [32]byte

// HashOf returns the content address of data.
func HashOf(data []byte) Hash { return sha256.Sum256(data) }

// Hex returns the bare lowercase hex form used in keys.
func (h Hash) Hex() string { return hex.EncodeToString(h[:]) }

// String returns the 0x-prefixed hex form.
func (h Hash) String() string { return "0x" + h.Hex() }

// BlockInfo is the metadata of a stored block.
type BlockInfo struct {
	Hash   Hash
	Size   uint64
	Expiry int64 // unix seconds after which the maintenance pass may drop it
	// Tags are the holders (reservations) the block was stored for, sorted.
	Tags []string
	// Pinned is true when the block was also stored without a tag; such a
	// block stays when its last tag is dropped, until it expires or is
	// deleted directly.
	Pinned bool
}

const blockMetaVersion = 1

// encode lays out: version byte, flags byte, uvarint size, varint expiry,
// uvarint tag count, then each tag as uvarint length + bytes.
func (b *BlockInfo) encode() []byte {
	n := 2 + 3*binary.MaxVarintLen64
	for _, t := range b.Tags {
		n += binary.MaxVarintLen64 + len(t)
	}
	out := make([]byte, 0, n)
	var flags byte
	if b.Pinned {
		flags |= 1
	}
	out = append(out, blockMetaVersion, flags)
	out = binary.AppendUvarint(out, b.Size)
	out = binary.AppendVarint(out, b.Expiry)
	out = binary.AppendUvarint(out, uint64(len(b.Tags)))
	for _, t := range b.Tags {
		out = binary.AppendUvarint(out, uint64(len(t)))
		out = append(out, t...)
	}
	return out
}

var errShort = errors.New("truncated")

func decodeBlockInfo(h Hash, buf []byte) (BlockInfo, error) {
	fail := func(err error) (BlockInfo, error) {
		return BlockInfo{}, &CorruptError{Key: blockMetaKey(h).String(), Err: err}
	}
	if len(buf) < 2 {
		return fail(errShort)
	}
	if buf[0] != blockMetaVersion {
		return fail(fmt.Errorf("unknown schema version %d", buf[0]))
	}
	b := BlockInfo{Hash: h, Pinned: buf[1]&1 != 0}
	p := buf[2:]
	var k int
	if b.Size, k = binary.Uvarint(p); k <= 0 {
		return fail(errShort)
	}
	p = p[k:]
	if b.Expiry, k = binary.Varint(p); k <= 0 {
		return fail(errShort)
	}
	p = p[k:]
	nt, k := binary.Uvarint(p)
	if k <= 0 || nt > uint64(len(p)) {
		return fail(errShort)
	}
	p = p[k:]
	if nt > 0 {
		b.Tags = make([]string, 0, nt)
	}
	for range nt {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return fail(errShort)
		}
		b.Tags = append(b.Tags, string(p[k:k+int(l)]))
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return fail(errors.New("trailing bytes"))
	}
	return b, nil
}

// addTag inserts tag keeping Tags sorted; it reports whether it was new.
func (b *BlockInfo) addTag(tag string) bool {
	i, found := slices.BinarySearch(b.Tags, tag)
	if found {
		return false
	}
	b.Tags = slices.Insert(b.Tags, i, tag)
	return true
}

// dropTag removes tag; it reports whether it was present.
func (b *BlockInfo) dropTag(tag string) bool {
	i, found := slices.BinarySearch(b.Tags, tag)
	if !found {
		return false
	}
	b.Tags = slices.Delete(b.Tags, i, i+1)
	return true
}
