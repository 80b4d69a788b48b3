package badgerds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// Defaults filled in by Options.EnsureDefaults, sized for a small machine
// instead of badger's (64 MiB memtables x 5, a 256 MiB block cache, 1 GiB
// value-log files, 4 compactors). Measured with BenchmarkWriteRSS (256-byte
// records, 100 per transaction, 2 cores), peak process RSS against
// badger's defaults: 69 vs 141 MiB after 20,000 records, 160 vs 231 MiB
// after 100,000, about 340 vs 535 MiB after 300,000, at the same write
// throughput. These knobs bound the memtables and caches only: under
// sustained writes the peak is dominated by compaction's table builders
// (badger keeps up to 8+ in flight and pools their buffers) and by the Go
// heap's GC headroom, which no option here reaches. A process that must
// stay small should also set a soft memory limit (GOMEMLIMIT or
// debug.SetMemoryLimit), trading write throughput for memory.
const (
	// DefaultMemTableSize is the default Options.MemTableSize: 16 MiB.
	DefaultMemTableSize = 16 << 20
	// DefaultNumMemtables is the default Options.NumMemtables: 2.
	DefaultNumMemtables = 2
	// DefaultBlockCacheSize is the default Options.BlockCacheSize: 32 MiB.
	DefaultBlockCacheSize = 32 << 20
	// DefaultIndexCacheSize is the default Options.IndexCacheSize: 16 MiB.
	DefaultIndexCacheSize = 16 << 20
	// DefaultValueLogFileSize is the default Options.ValueLogFileSize: 64 MiB.
	DefaultValueLogFileSize = 64 << 20
	// DefaultNumCompactors is the default Options.NumCompactors: 2.
	DefaultNumCompactors = 2
)

const (
	// minMemTableSize keeps badger's transaction size limit
	// (15% of MemTableSize) above its 1 MiB value threshold; badger refuses
	// to open otherwise.
	minMemTableSize = 8 << 20
	// Value-log files must be in [1 MiB, 2 GiB) (badger ErrValueLogSize).
	minValueLogFileSize = 1 << 20
	maxValueLogFileSize = 2<<30 - 1
	// Level-0 tuning (not exposed). With 16 MiB memtables a level-0 table
	// is small, so compacting 4 of them into L1 is cheap and keeps the
	// number of tables a read must consult low; writes stall only at 12
	// (badger: 5 and 15).
	numLevelZeroTables      = 4
	numLevelZeroTablesStall = 12
)

// Options configures Open. The zero value is valid: a durable on-disk
// store with small-machine defaults and badger logging off. Pass nil to
// Open for the same.
//
// Options is a plain value; Open copies it and never retains or modifies
// the caller's struct.
type Options struct {
	// InMemory keeps all data in memory (badger WithInMemory(true)). The
	// path given to Open is ignored and may be "". Nothing is persisted,
	// Sync is a no-op, DiskUsage is 0, and a single value may be at most
	// 1 MiB (badger keeps in-memory values inside the LSM tree).
	InMemory bool

	// NoSync turns off badger's SyncWrites. The zero value is durable: a
	// write that returned nil has been fsynced and survives a crash or
	// power loss. With NoSync a crash may lose the most recent writes (the
	// database stays consistent); call Datastore.Sync to flush. Ignored
	// in memory.
	NoSync bool

	// Logger receives badger's own log lines: Errorf as slog.LevelError,
	// Warningf as slog.LevelWarn, Infof and Debugf as slog.LevelDebug
	// (badger's INFO lines are routine). nil turns badger logging off.
	// Tag the logger with attributes (logger.With(...)) to tell stores
	// apart. The logger must be safe for concurrent use.
	Logger *slog.Logger

	// MemTableSize is the size of one memtable, in bytes. Zero means
	// DefaultMemTableSize (16 MiB, badger: 64 MiB); at least 8 MiB.
	// A memtable is allocated in full up front (about 1.3x this size) and
	// an on-disk store also maps a write-ahead file of the same order, so
	// this is the largest single memory knob. It also sets the transaction
	// limits: badger lets one transaction or batch hold at most
	// 15% of MemTableSize bytes (MaxBatchSize; 2.4 MiB at 16 MiB) and
	// MaxBatchSize/skiplist-node-size entries (MaxBatchCount; about
	// 26,000 at 16 MiB). Values of 1 MiB or more are stored in the value
	// log and count only a pointer toward MaxBatchSize (on disk).
	MemTableSize int64

	// NumMemtables is how many full memtables may wait to be flushed
	// before writes block. Zero means DefaultNumMemtables (2, badger: 5).
	// Peak memtable memory is about (NumMemtables+2) x 1.3 x MemTableSize
	// while flushes lag; two absorb a burst while one is flushed.
	NumMemtables int

	// BlockCacheSize is the size of the cache of decompressed table blocks,
	// in bytes. Zero means DefaultBlockCacheSize (32 MiB, badger: 256 MiB).
	// Must be positive: tables are Snappy-compressed and badger needs the
	// cache for that. It is the second largest memory knob; reads of a
	// working set larger than the cache decompress blocks again.
	BlockCacheSize int64

	// IndexCacheSize caps the memory used by table indexes and bloom
	// filters, in bytes. Zero means DefaultIndexCacheSize (16 MiB);
	// negative disables the cap (badger's default), keeping every index
	// in memory, which grows with the data (roughly 5% of the LSM size).
	IndexCacheSize int64

	// ValueLogFileSize is the size at which a value-log file is rotated,
	// in bytes. Zero means DefaultValueLogFileSize (64 MiB, badger: 1 GiB).
	// It must be in [1 MiB, 2 GiB) and bounds the largest single value.
	// The active file is memory-mapped, so its written pages count toward
	// RSS; smaller files also let CollectGarbage reclaim space in smaller
	// steps.
	ValueLogFileSize int64

	// NumCompactors is the number of background compaction goroutines.
	// Zero means DefaultNumCompactors (2, badger: 4); badger requires at
	// least 2 (one of them prioritises level 0).
	NumCompactors int

	// ReadOnly opens the store with a shared lock and no background
	// compaction, for offline inspection (fsck). Every write returns an
	// error. Not allowed with InMemory; the directory must exist.
	ReadOnly bool
}

// EnsureDefaults returns a copy of o with every zero field set to its
// default. It is nil-safe (nil yields all defaults) and never modifies o.
func (o *Options) EnsureDefaults() *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.NumMemtables == 0 {
		c.NumMemtables = DefaultNumMemtables
	}
	if c.BlockCacheSize == 0 {
		c.BlockCacheSize = DefaultBlockCacheSize
	}
	if c.IndexCacheSize == 0 {
		c.IndexCacheSize = DefaultIndexCacheSize
	}
	if c.ValueLogFileSize == 0 {
		c.ValueLogFileSize = DefaultValueLogFileSize
	}
	if c.NumCompactors == 0 {
		c.NumCompactors = DefaultNumCompactors
	}
	return &c
}

// Validate reports every invalid field of o, joined with errors.Join; nil
// means o (after EnsureDefaults) can be passed to Open. Zero fields are
// valid because they mean "default". A nil o is valid.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("badgerds: invalid options: "+format, args...))
	}
	if o.MemTableSize != 0 && o.MemTableSize < minMemTableSize {
		bad("MemTableSize %d is below the minimum of %d", o.MemTableSize, minMemTableSize)
	}
	if o.NumMemtables < 0 {
		bad("NumMemtables %d is negative", o.NumMemtables)
	}
	if o.BlockCacheSize < 0 {
		bad("BlockCacheSize %d is negative", o.BlockCacheSize)
	}
	if o.ValueLogFileSize != 0 && (o.ValueLogFileSize < minValueLogFileSize || o.ValueLogFileSize > maxValueLogFileSize) {
		bad("ValueLogFileSize %d is outside [%d, %d]", o.ValueLogFileSize, minValueLogFileSize, maxValueLogFileSize)
	}
	if o.NumCompactors < 0 || o.NumCompactors == 1 {
		bad("NumCompactors %d: need 0 (default) or at least 2", o.NumCompactors)
	}
	if o.InMemory && o.ReadOnly {
		bad("InMemory and ReadOnly are mutually exclusive")
	}
	return errors.Join(errs...)
}

// badgerOptions converts filled, validated options to badger's.
func (o *Options) badgerOptions(path string) badger.Options {
	if o.InMemory {
		path = ""
	}
	bo := badger.DefaultOptions(path).
		WithInMemory(o.InMemory).
		WithReadOnly(o.ReadOnly).
		WithSyncWrites(!o.NoSync && !o.InMemory).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithNumCompactors(o.NumCompactors).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithNumLevelZeroTablesStall(numLevelZeroTablesStall).
		WithDetectConflicts(true).
		WithLogger(nil)
	if o.IndexCacheSize > 0 {
		bo = bo.WithIndexCacheSize(o.IndexCacheSize)
	} else {
		bo = bo.WithIndexCacheSize(0)
	}
	if o.Logger != nil {
		bo = bo.WithLogger(slogLogger{o.Logger})
	}
	return bo
}

// slogLogger adapts a *slog.Logger to badger.Logger.
type slogLogger struct{ l *slog.Logger }

var _ badger.Logger = slogLogger{}

func (s slogLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

func (s slogLogger) Errorf(format string, args ...any) { s.log(slog.LevelError, format, args) }

func (s slogLogger) Warningf(format string, args ...any) { s.log(slog.LevelWarn, format, args) }

func (s slogLogger) Infof(format string, args ...any) { s.log(slog.LevelDebug, format, args) }

func (s slogLogger) Debugf(format string, args ...any) { s.log(slog.LevelDebug, format, args) }
