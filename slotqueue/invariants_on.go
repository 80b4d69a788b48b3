//go:build invariants || race

package slotqueue

// invariants enables the O(n) consistency check of the heap after every
// change to a Core. It is on in builds with the invariants or race tag.
const invariants = true
