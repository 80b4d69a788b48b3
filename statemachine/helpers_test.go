package statemachine_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	sm "github.com/hostsales/hostsales/statemachine"
)

// The example machine used by the tests: a miniature sale.
const (
	Preparing   sm.State = "Preparing"
	Downloading sm.State = "Downloading"
	Filled      sm.State = "Filled"
	Finished    sm.State = "Finished"
	Cancelled   sm.State = "Cancelled"
	Errored     sm.State = "Errored"

	EvDownload   sm.Event = "download"
	EvSlotFilled sm.Event = "slotFilled"
	EvFinish     sm.Event = "finish"
	EvCancelled  sm.Event = "cancelled"
	EvErrored    sm.Event = "errored"
)

var (
	exampleStates = []sm.State{Preparing, Downloading, Filled, Finished, Cancelled, Errored}
	exampleEvents = []sm.Event{EvDownload, EvSlotFilled, EvFinish, EvCancelled, EvErrored}
)

func exampleSpec() sm.Spec {
	return sm.Spec{
		States: slices.Clone(exampleStates),
		Events: slices.Clone(exampleEvents),
		Transitions: []sm.Transition{
			{Event: EvDownload, From: []sm.State{Preparing}, To: Downloading},
			{Event: EvSlotFilled, From: []sm.State{Preparing, Downloading}, To: Filled},
			{Event: EvFinish, From: []sm.State{Filled}, To: Finished},
			{Event: EvCancelled, From: []sm.State{Preparing, Downloading, Filled}, To: Cancelled},
			{Event: EvErrored, From: []sm.State{Preparing, Downloading, Filled}, To: Errored},
		},
		Terminal: []sm.State{Finished, Cancelled, Errored},
	}
}

func exampleTable(t testing.TB) *sm.Table {
	t.Helper()
	tbl, err := sm.NewTable(exampleSpec())
	require.NoError(t, err)
	return tbl
}
