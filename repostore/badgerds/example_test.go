package badgerds_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/hostsales/hostsales/repostore/badgerds"
)

func Example() {
	ctx := context.Background()
	// On disk: badgerds.Open(dir, nil) is durable by default.
	d, err := badgerds.Open("", &badgerds.Options{InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	// Plain writes.
	if err := d.Put(ctx, ds.NewKey("/avail/1"), []byte("100")); err != nil {
		log.Fatal(err)
	}

	// An atomic change: debit the availability and add a reservation.
	txn, err := d.NewTransaction(ctx, false)
	if err != nil {
		log.Fatal(err)
	}
	defer txn.Discard(ctx) // a no-op after Commit
	if _, err := txn.Get(ctx, ds.NewKey("/avail/1")); err != nil {
		log.Fatal(err)
	}
	_ = txn.Put(ctx, ds.NewKey("/avail/1"), []byte("60"))
	_ = txn.Put(ctx, ds.NewKey("/avail/1/res/a"), []byte("40"))
	if err := txn.Commit(ctx); errors.Is(err, badgerds.ErrConflict) {
		log.Fatal("retry the transaction")
	} else if err != nil {
		log.Fatal(err)
	}

	// Query strict descendants of /avail, newest key first.
	res, err := d.Query(ctx, dsq.Query{Prefix: "/avail", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}})
	if err != nil {
		log.Fatal(err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			log.Fatal(r.Error)
		}
		fmt.Printf("%s = %s\n", r.Key, r.Value)
	}

	_, err = d.Get(ctx, ds.NewKey("/avail/2"))
	fmt.Println(err == ds.ErrNotFound)

	_ = d.Close()
	_, err = d.Get(ctx, ds.NewKey("/avail/1"))
	fmt.Println(errors.Is(err, badgerds.ErrClosed))
	// Output:
	// /avail/1/res/a = 40
	// /avail/1 = 60
	// true
	// true
}
