package sales

import (
	"github.com/holiman/uint256"

	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/statemachine"
)

// The sale states of SPEC §4.3. Their names are the reference's, so logs,
// the REST API and operators' tools read the same.
const (
	StatePreparing      statemachine.State = "SalePreparing"
	StateSlotReserving  statemachine.State = "SaleSlotReserving"
	StateDownloading    statemachine.State = "SaleDownloading"
	StateInitialProving statemachine.State = "SaleInitialProving"
	StateFilling        statemachine.State = "SaleFilling"
	StateFilled         statemachine.State = "SaleFilled"
	StateProving        statemachine.State = "SaleProving"
	StatePayout         statemachine.State = "SalePayout"
	StateFinished       statemachine.State = "SaleFinished"
	StateCancelled      statemachine.State = "SaleCancelled"
	StateFailed         statemachine.State = "SaleFailed"
	StateIgnored        statemachine.State = "SaleIgnored"
	StateErrored        statemachine.State = "SaleErrored"
	StateUnknown        statemachine.State = "SaleUnknown"
)

// Events. The first three come from outside the running state (the market
// via Sales, or the expiry watcher); the others are what a state's run
// returns to leave it.
const (
	EventCancelled  statemachine.Event = "cancelled"
	EventFailed     statemachine.Event = "failed"
	EventSlotFilled statemachine.Event = "slotFilled"

	evReserve  statemachine.Event = "reserve"
	evDownload statemachine.Event = "download"
	evProve    statemachine.Event = "prove"
	evFill     statemachine.Event = "fill"
	evFilled   statemachine.Event = "filled"
	evProving  statemachine.Event = "proving"
	evPayout   statemachine.Event = "payout"
	evFinish   statemachine.Event = "finish"
	evIgnore   statemachine.Event = "ignore"
	evError    statemachine.Event = "error"
	evCancel   statemachine.Event = "cancel" // Unknown: the request was cancelled
	evFail     statemachine.Event = "fail"   // Unknown: the request failed
)

// live are the states that react to cancelled and failed (SPEC §4.3 table).
// SaleFinished is not among them: hostsales treats it as terminal, so a
// late cancelled or failed event cannot restart cleanup of a finished sale.
var live = []statemachine.State{StatePreparing, StateSlotReserving, StateDownloading, StateInitialProving,
	StateFilling, StateFilled, StateProving, StatePayout, StateUnknown}

// Table is the sale machine's transition table (SPEC §4.3, §4.4); the
// golden diagram of it is testdata/sales.mmd.
var Table = mustTable()

func mustTable() *statemachine.Table {
	errorFrom := append(append([]statemachine.State{}, live...), StateCancelled, StateFailed)
	t, err := statemachine.NewTable(statemachine.Spec{
		States: []statemachine.State{StatePreparing, StateSlotReserving, StateDownloading, StateInitialProving,
			StateFilling, StateFilled, StateProving, StatePayout, StateFinished, StateCancelled, StateFailed,
			StateIgnored, StateErrored, StateUnknown},
		Events: []statemachine.Event{EventCancelled, EventFailed, EventSlotFilled, evReserve, evDownload, evProve,
			evFill, evFilled, evProving, evPayout, evFinish, evIgnore, evError, evCancel, evFail},
		Transitions: []statemachine.Transition{
			{Event: EventCancelled, From: live, To: StateCancelled},
			{Event: EventFailed, From: live, To: StateFailed},
			{Event: EventSlotFilled, From: []statemachine.State{StatePreparing, StateDownloading}, To: StateFilled},
			{Event: evReserve, From: []statemachine.State{StatePreparing}, To: StateSlotReserving},
			{Event: evDownload, From: []statemachine.State{StateSlotReserving}, To: StateDownloading},
			{Event: evProve, From: []statemachine.State{StateDownloading}, To: StateInitialProving},
			{Event: evFill, From: []statemachine.State{StateInitialProving}, To: StateFilling},
			{Event: evFilled, From: []statemachine.State{StateFilling, StateUnknown}, To: StateFilled},
			{Event: evProving, From: []statemachine.State{StateFilled}, To: StateProving},
			{Event: evPayout, From: []statemachine.State{StateProving, StateUnknown}, To: StatePayout},
			{Event: evFinish, From: []statemachine.State{StatePayout, StateUnknown}, To: StateFinished},
			{Event: evIgnore, From: []statemachine.State{StatePreparing, StateSlotReserving, StateFilling}, To: StateIgnored},
			{Event: evError, From: errorFrom, To: StateErrored},
			{Event: evCancel, From: []statemachine.State{StateUnknown}, To: StateCancelled},
			{Event: evFail, From: []statemachine.State{StateUnknown}, To: StateFailed},
		},
		Terminal: []statemachine.State{StateFinished, StateIgnored, StateErrored},
	})
	if err != nil {
		panic(err) // a programming error in the table above, caught by every test
	}
	return t
}

// step is what travels with an event into the next state.
type step struct {
	err       error
	reprocess bool
	// returnsCollateral: Ignored after the reservation was made (SPEC §4.3).
	returnsCollateral bool
	// paid is the collateral the market paid back (Payout, Cancelled).
	paid  *uint256.Int
	proof market.Proof
	// reason explains an Ignored (or another non-error transition) in the
	// sale's event log.
	reason string
	// keep: Errored leaves the reservation for restore and Reconcile.
	keep bool
}

type stepT = statemachine.Step[step]

func next(ev statemachine.Event, s step) stepT { return statemachine.Next(ev, s) }

func none() stepT { return statemachine.None[step]() }

func errored(err error) stepT { return next(evError, step{err: err}) }

// StateOf converts a state name (as logged or served by the REST API).
func StateOf(name string) statemachine.State { return statemachine.State(name) }
