package statemachine

import "sync"

// Executor runs the tasks of machines. A Machine never uses the go
// statement; it hands every piece of work to its Executor, so the owner
// decides how work runs: on goroutines in production (GoExecutor), or one
// task at a time in an order chosen by a seed in a simulation.
//
// A Machine submits two kinds of task:
//
//   - step tasks, which apply queued events to the Core, call the hooks
//     and start runs. They never block, except briefly on the machine's
//     mutex, which is never held while user code runs;
//   - run tasks, which call a Handler's Run and then, when Run returns,
//     continue as a step task if none is active. Run may block for as long
//     as the state lasts.
//
// Go must not run task on the calling goroutine before it returns (the
// machine calls Go from its own tasks, and a run task may block), and it
// must eventually run every task it accepted: Machine.Stop and
// Machine.Done wait for the machine's tasks to finish. Go may be called
// concurrently from several goroutines.
type Executor interface {
	// Go arranges for task to run.
	Go(task func())
}

// GoExecutor is the production Executor: it runs every task on a new
// goroutine and tracks the goroutines with a sync.WaitGroup. The zero value
// is ready to use, and it is safe for concurrent use. A GoExecutor shared
// by several machines lets their owner wait for all of them with Wait.
type GoExecutor struct {
	wg sync.WaitGroup
}

var _ Executor = (*GoExecutor)(nil)

// Go runs task on a new goroutine.
func (e *GoExecutor) Go(task func()) { e.wg.Go(task) }

// Wait blocks until every task started by Go has returned. Call it after
// the machines using e were stopped (Machine.Stop), never from a task.
func (e *GoExecutor) Wait() { e.wg.Wait() }
