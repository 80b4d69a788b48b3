package repostore

import (
	"errors"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

// isTxnTooBig reports whether err is a datastore's refusal of a
// transaction's size.
func isTxnTooBig(err error) bool { return err != nil && errors.Is(err, badgerds.ErrTxnTooBig) }
