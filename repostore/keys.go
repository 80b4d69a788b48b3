package repostore

import (
	"encoding/hex"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// Key layout of the repo store. Every key is built here and nowhere else.
//
//	/meta/quota/used                      quota record {"v":1,"used":N,"reserved":M}
//	/meta/total                           number of stored blocks (decimal)
//	/blocks/<hash>                        block data
//	/meta/blocks/<hash>                   block metadata (size, expiry, tags)
//	/meta/expiry/<expiry:016x>/<hash>     expiry index, ordered by time
//	/meta/tags/<tag>/<hash>               tag index: the blocks a tag holds
var (
	quotaKey      = ds.NewKey("/meta/quota/used")
	totalKey      = ds.NewKey("/meta/total")
	blocksPrefix  = ds.NewKey("/blocks")
	blockMetaRoot = ds.NewKey("/meta/blocks")
	expiryRoot    = ds.NewKey("/meta/expiry")
	tagRoot       = ds.NewKey("/meta/tags")
)

func blockKey(h Hash) ds.Key     { return blocksPrefix.ChildString(h.Hex()) }
func blockMetaKey(h Hash) ds.Key { return blockMetaRoot.ChildString(h.Hex()) }

func expiryKey(expiry int64, h Hash) ds.Key {
	return expiryRoot.ChildString(fmt.Sprintf("%016x", uint64(expiry))).ChildString(h.Hex())
}

// tagPrefix names a tag's index: the tag itself when it is a plain token
// (letters, digits, '-', '_'), else "~" and its hex (no plain token starts
// with "~").
func tagPrefix(tag string) ds.Key {
	for _, c := range tag {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return tagRoot.ChildString("~" + hex.EncodeToString([]byte(tag)))
		}
	}
	return tagRoot.ChildString(tag)
}

func tagKey(tag string, h Hash) ds.Key { return tagPrefix(tag).ChildString(h.Hex()) }
