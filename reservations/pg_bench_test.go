package reservations_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The peer a user would reach for instead of the repo (issue 3, DESIGN.md
// "Performance targets"): the same reservation transaction on PostgreSQL.
// These benchmarks skip unless benchPGEnv holds a connection string
// (scripts/bench-postgres.sh starts a throw-away server and sets it).
//
// The schema mirrors the repo's records and keys: an availability row per
// availability, a reservation row per reservation, keyed by (availability,
// id) as the reservation's key is, and unique per (request, slot) as the
// repo's slot index is. The workload is the repo benchmarks': callers
// share benchAvailabilities availabilities, each op on a random one, slots
// of benchSlotSize bytes with benchCollateralPerByte collateral per byte,
// ids of 32 random bytes made by the client.

// benchPGEnv names the environment variable with the PostgreSQL
// connection string (a pgx DSN or URL).
const benchPGEnv = "HOSTSALES_PG_DSN"

const benchPGSchema = `
DROP TABLE IF EXISTS reservation;
DROP TABLE IF EXISTS availability;
CREATE TABLE availability (
	id bytea PRIMARY KEY,
	total_size bigint NOT NULL,
	free_size bigint NOT NULL,
	duration bigint NOT NULL,
	min_price_per_byte_per_second numeric(78, 0) NOT NULL,
	total_collateral numeric(78, 0) NOT NULL,
	remaining_collateral numeric(78, 0) NOT NULL,
	enabled boolean NOT NULL,
	until bigint NOT NULL
);
CREATE TABLE reservation (
	availability_id bytea NOT NULL,
	id bytea NOT NULL,
	size bigint NOT NULL,
	slot_size bigint NOT NULL,
	collateral numeric(78, 0) NOT NULL,
	request_id bytea NOT NULL,
	slot_index bigint NOT NULL,
	valid_until bigint NOT NULL,
	PRIMARY KEY (availability_id, id),
	UNIQUE (request_id, slot_index)
);`

const (
	// benchPGReserve debits the availability if it has the bytes and the
	// collateral and accepts validUntil (CreateReservation's re-checks).
	benchPGReserve = `UPDATE availability
SET free_size = free_size - $2, remaining_collateral = remaining_collateral - $3
WHERE id = $1 AND free_size >= $2 AND remaining_collateral >= $3 AND (until = 0 OR until >= $4)`
	benchPGInsert = `INSERT INTO reservation
(availability_id, id, size, slot_size, collateral, request_id, slot_index, valid_until)
VALUES ($1, $2, $3, $3, $4, $5, $6, $7)`
	// benchPGDelete and benchPGCredit end a reservation (EndReservation):
	// delete it and give its bytes and collateral back.
	benchPGDelete = `DELETE FROM reservation WHERE availability_id = $1 AND id = $2 RETURNING slot_size, collateral`
	benchPGCredit = `UPDATE availability
SET free_size = free_size + $2, remaining_collateral = remaining_collateral + $3 WHERE id = $1`
)

// benchPG is one connection per caller, with the schema and
// benchAvailabilities availabilities created. (A connection per caller is
// what a pool sized to the callers gives; pgxpool itself would need
// github.com/jackc/puddle/v2 in go.mod.)
type benchPG struct {
	conns  []*pgx.Conn
	avails [][]byte
}

// benchPGOpen connects (or skips the benchmark when benchPGEnv is unset)
// callers connections, all before timing, with synchronous_commit on when
// durable and off otherwise, set per session.
func benchPGOpen(b *testing.B, durable bool, callers int) *benchPG {
	b.Helper()
	dsn := os.Getenv(benchPGEnv)
	if dsn == "" {
		b.Skipf("%s is not set (see scripts/bench-postgres.sh)", benchPGEnv)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	syncCommit := "off"
	if durable {
		syncCommit = "on"
	}
	p := &benchPG{}
	for range callers {
		c, err := pgx.ConnectConfig(benchCtx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close(benchCtx) })
		if _, err := c.Exec(benchCtx, "SET synchronous_commit = "+syncCommit); err != nil {
			b.Fatal(err)
		}
		p.conns = append(p.conns, c)
	}
	c := p.conns[0]
	if _, err := c.Exec(benchCtx, benchPGSchema); err != nil {
		b.Fatal(err)
	}
	coll := benchPGNumeric(new(big.Int).Mul(big.NewInt(benchAvailSize), benchCollateralPerByte.ToBig()))
	for range benchAvailabilities {
		id := benchPGID()
		if _, err := c.Exec(benchCtx, `INSERT INTO availability VALUES ($1, $2, $2, $3, 1, $4, $4, true, 0)`,
			id, int64(benchAvailSize), int64(30*24*3600), coll); err != nil {
			b.Fatal(err)
		}
		p.avails = append(p.avails, id)
	}
	if _, err := c.Exec(benchCtx, "VACUUM ANALYZE availability"); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchPGID() []byte {
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	return id
}

func benchPGNumeric(v *big.Int) pgtype.Numeric { return pgtype.Numeric{Int: v, Valid: true} }

// benchPGCollateral is what each reservation takes: slot size x collateral
// per byte.
var benchPGCollateral = benchPGNumeric(new(big.Int).Mul(big.NewInt(benchSlotSize), benchCollateralPerByte.ToBig()))

var errBenchPGNoRoom = errors.New("availability has no room")

// reserve is CreateReservation's transaction: debit the availability
// (guarded), check that one row changed, insert the reservation, commit.
// It returns the reservation's id.
func (p *benchPG) reserve(c int, aid, req []byte) ([]byte, error) {
	rid := benchPGID()
	err := pgx.BeginFunc(benchCtx, p.conns[c], func(tx pgx.Tx) error {
		tag, err := tx.Exec(benchCtx, benchPGReserve, aid, int64(benchSlotSize), benchPGCollateral, int64(benchValidUntil))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errBenchPGNoRoom
		}
		_, err = tx.Exec(benchCtx, benchPGInsert, aid, rid, int64(benchSlotSize), benchPGCollateral, req,
			int64(0), int64(benchValidUntil))
		return err
	})
	return rid, err
}

// end is EndReservation's transaction: delete the reservation and credit
// its bytes and collateral back to the availability.
func (p *benchPG) end(c int, aid, rid []byte) error {
	return pgx.BeginFunc(benchCtx, p.conns[c], func(tx pgx.Tx) error {
		var size int64
		var coll pgtype.Numeric
		if err := tx.QueryRow(benchCtx, benchPGDelete, aid, rid).Scan(&size, &coll); err != nil {
			return err
		}
		tag, err := tx.Exec(benchCtx, benchPGCredit, aid, size, coll)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("availability %x not found", aid)
		}
		return nil
	})
}

// BenchmarkPostgresReservation is BenchmarkCreateReservation's peer: one
// transaction (UPDATE availability with a free_size guard, check one row
// changed, INSERT the reservation), synchronous_commit on (durable) or off.
func BenchmarkPostgresReservation(b *testing.B) {
	for _, m := range benchDurableMatrix {
		b.Run(fmt.Sprintf("durable=%v/callers=%d", m.durable, m.callers), func(b *testing.B) {
			p := benchPGOpen(b, m.durable, m.callers)
			benchCallers(b, m.callers, func(c int, rng *mrand.Rand) error {
				_, err := p.reserve(c, p.avails[rng.IntN(len(p.avails))], benchPGID())
				return err
			})
		})
	}
}

// BenchmarkPostgresCreateEndReservation is BenchmarkCreateEndReservation's
// peer: the reservation transaction, then a second transaction that
// deletes the reservation and credits the availability back.
func BenchmarkPostgresCreateEndReservation(b *testing.B) {
	for _, m := range benchDurableMatrix {
		b.Run(fmt.Sprintf("durable=%v/callers=%d", m.durable, m.callers), func(b *testing.B) {
			p := benchPGOpen(b, m.durable, m.callers)
			benchCallers(b, m.callers, func(c int, rng *mrand.Rand) error {
				aid := p.avails[rng.IntN(len(p.avails))]
				rid, err := p.reserve(c, aid, benchPGID())
				if err != nil {
					return err
				}
				return p.end(c, aid, rid)
			})
		})
	}
}
