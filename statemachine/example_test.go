package statemachine_test

import (
	"context"
	"fmt"

	"github.com/hostsales/hostsales/statemachine"
)

// An order is paid and shipped; the shop may cancel it while it waits for
// the payment. Each state's Run returns the event that leaves it, with a
// payload for the next state.
func Example() {
	const (
		Created   statemachine.State = "Created"
		Paid      statemachine.State = "Paid"
		Shipped   statemachine.State = "Shipped"
		Cancelled statemachine.State = "Cancelled"

		Pay    statemachine.Event = "pay"
		Ship   statemachine.Event = "ship"
		Cancel statemachine.Event = "cancel"
	)
	table, err := statemachine.NewTable(statemachine.Spec{
		States: []statemachine.State{Created, Paid, Shipped, Cancelled},
		Events: []statemachine.Event{Pay, Ship, Cancel},
		Transitions: []statemachine.Transition{
			{Event: Pay, From: []statemachine.State{Created}, To: Paid},
			{Event: Ship, From: []statemachine.State{Paid}, To: Shipped},
			{Event: Cancel, From: []statemachine.State{Created, Paid}, To: Cancelled},
		},
		Terminal: []statemachine.State{Shipped, Cancelled},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	type Step = statemachine.Step[string]
	run := func(f func(ctx context.Context, entry Step) Step) statemachine.Handler[string] {
		return statemachine.HandlerFunc[string](f)
	}
	m, err := statemachine.New(table, map[statemachine.State]statemachine.Handler[string]{
		Created: run(func(ctx context.Context, _ Step) Step {
			return statemachine.Next(Pay, "42 EUR")
		}),
		Paid: run(func(ctx context.Context, entry Step) Step {
			fmt.Println("  charged", entry.Payload)
			return statemachine.Next(Ship, "parcel 7")
		}),
		Shipped: run(func(ctx context.Context, entry Step) Step {
			fmt.Println("  handed over", entry.Payload)
			return statemachine.None[string]()
		}),
		Cancelled: run(func(ctx context.Context, _ Step) Step {
			fmt.Println("  refunded")
			return statemachine.None[string]()
		}),
	}, &statemachine.Options[string]{
		Hooks: statemachine.Hooks[string]{
			// Called before the new state's Run: persist the step here.
			OnTransition: func(c statemachine.Change, _ string) {
				if c.From == "" {
					fmt.Println("start in", c.To)
					return
				}
				fmt.Printf("%s -> %s (%s)\n", c.From, c.To, c.Event)
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	if err := m.Start(ctx, Created); err != nil {
		fmt.Println(err)
		return
	}
	<-m.Done() // Shipped is terminal
	fmt.Println("final state:", m.State())
	fmt.Println("schedule after done:", m.Schedule(Cancel))
	if err := m.Stop(ctx); err != nil {
		fmt.Println(err)
	}

	diagram, _ := table.Mermaid(Created)
	fmt.Print(diagram)
	// Output:
	// start in Created
	// Created -> Paid (pay)
	//   charged 42 EUR
	// Paid -> Shipped (ship)
	//   handed over parcel 7
	// final state: Shipped
	// schedule after done: statemachine: stopped
	// stateDiagram-v2
	//     [*] --> Created
	//     Created --> Cancelled: cancel
	//     Created --> Paid: pay
	//     Paid --> Cancelled: cancel
	//     Paid --> Shipped: ship
	//     Cancelled --> [*]
	//     Shipped --> [*]
}
