// Package reservations stores Availabilities and their Reservations and
// performs every operation on them as one atomic commit.
package reservations
