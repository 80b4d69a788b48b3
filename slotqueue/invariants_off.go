//go:build !(invariants || race)

package slotqueue

// invariants enables the O(n) consistency check of the heap after every
// change to a Core. It is off in release builds.
const invariants = false
