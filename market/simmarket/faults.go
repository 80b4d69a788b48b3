package simmarket

import (
	"fmt"

	"github.com/hostsales/hostsales/market"
)

type faultState struct {
	Fault
	matches uint64
}

// InjectFault adds a fault (see Fault) from now on. Faults are checked in
// the order they were added; the first that fires decides the error. It
// returns an error wrapping ErrInvalidOptions for a fault that could never
// fire or has a probability outside [0, 1].
func (m *Market) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.faults = append(m.mu.faults, &faultState{Fault: f})
	return nil
}

// ClearFaults removes every fault.
func (m *Market) ClearFaults() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.faults = nil
}

// faultLocked counts the call against every matching fault and returns the
// error of the first one that fires, or nil.
func (m *Market) faultLocked(method string, caller market.Address) error {
	var fired error
	for _, f := range m.mu.faults {
		if (f.Method != "" && f.Method != method) || (!f.Caller.IsZero() && f.Caller != caller) {
			continue
		}
		f.matches++
		hit := f.Nth != 0 && f.matches == f.Nth
		if f.Probability > 0 && m.mu.faultRNG.Float64() < f.Probability {
			hit = true
		}
		if hit && fired == nil {
			err := f.Err
			if err == nil {
				err = ErrInjected
			}
			fired = fmt.Errorf("simmarket: %s (call %d): %w", method, f.matches, err)
		}
	}
	return fired
}
