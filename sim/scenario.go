package sim

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/hostsales/hostsales/market"
)

// ErrInvalidScenario is wrapped by every error ParseScenario, LoadScenario
// and Scenario.Validate return for a scenario that cannot run.
var ErrInvalidScenario = errors.New("sim: invalid scenario")

// Scenario describes one simulation: the market, its clients and
// competitors, the storage nodes under test, and what goes wrong while it
// runs (faults, operator actions, crashes). It is read from YAML
// (ParseScenario, LoadScenario; every field is optional unless its comment
// says otherwise, and unknown fields are errors) or built in Go, and must
// pass Validate before Run uses it. Run does not modify it.
//
// A run has two phases. In the active phase (Duration simulated seconds,
// or Steps steps, whichever ends first) clients submit requests and the
// faults, operator actions and crashes apply. Then the run drains: no new
// requests, no faults, no crashes; it runs until every request has ended
// and every node has no sale and no reservation left (or Settle seconds
// pass), and checks I5.
type Scenario struct {
	// Name identifies the scenario in summaries and traces. Required.
	Name string `yaml:"name"`
	// Description says, for a person, what the scenario exercises.
	Description string `yaml:"description"`
	// Start is the market time, unix seconds, at which the run begins.
	// Default 1,000,000.
	Start int64 `yaml:"start"`
	// Duration is the length of the active phase in simulated seconds.
	Duration int64 `yaml:"duration"`
	// Steps, if set, ends the active phase after this many steps (see
	// Run). At least one of Duration and Steps is required.
	Steps uint64 `yaml:"steps"`
	// Settle bounds the drain, in simulated seconds; a run that has not
	// settled by then reports an I5 violation. Default: the longest request
	// (duration and expiry) plus four reconcile periods and ten proof
	// periods.
	Settle int64 `yaml:"settle"`
	// Market configures the contract.
	Market MarketSpec `yaml:"market"`
	// Clients submit random storage requests.
	Clients ClientSpec `yaml:"clients"`
	// Competitors are simulated hosts of the market that compete with the
	// nodes for slots.
	Competitors []CompetitorSpec `yaml:"competitors"`
	// Nodes are the storage hosts under test, each with its own repo,
	// reservations, Sales and market address. At least one is required.
	Nodes []NodeSpec `yaml:"nodes"`
	// Faults are injected during the active phase.
	Faults []FaultSpec `yaml:"faults"`
	// Operator lists availability changes made while sales run.
	Operator []OperatorAction `yaml:"operator"`
	// Crashes lists node crashes (each followed by a restart).
	Crashes []CrashSpec `yaml:"crashes"`
}

// MarketSpec configures the simulated contract (market.Config and
// simmarket.Options). Zero fields take the defaults of
// market.DefaultConfig, except Period, whose default here is 60 seconds.
type MarketSpec struct {
	Period                    uint64 `yaml:"period"`          // seconds per proof period
	Timeout                   uint64 `yaml:"timeout"`         // seconds after a period during which a proof can be marked missing
	Downtime                  uint8  `yaml:"downtime"`        // pointer positions with no proof required
	DowntimeProduct           uint8  `yaml:"downtimeProduct"` // should be prime
	MaxReservations           uint8  `yaml:"maxReservations"` // hosts that may reserve one slot
	RepairRewardPercentage    uint8  `yaml:"repairRewardPercentage"`
	MaxNumberOfSlashes        uint8  `yaml:"maxNumberOfSlashes"`
	SlashPercentage           uint8  `yaml:"slashPercentage"`
	ValidatorRewardPercentage uint8  `yaml:"validatorRewardPercentage"`
	DurationLimit             uint64 `yaml:"durationLimit"` // longest request duration, seconds
	BlockTime                 uint64 `yaml:"blockTime"`     // seconds per virtual block; default 12
	// NoValidator turns the simulated validator off: missed proofs are
	// never marked, so nobody is slashed.
	NoValidator bool `yaml:"noValidator"`
}

// ClientSpec describes the clients. Requests arrive as a Poisson process
// of Rate per simulated second; each comes from one of Count clients, is
// drawn by simmarket.RandomRequest within Requests, and is submitted.
type ClientSpec struct {
	// Count is the number of client accounts. Default 1.
	Count int `yaml:"count"`
	// Rate is the number of requests per simulated second, all clients
	// together. Zero: no requests (only a scenario that drives the market
	// some other way wants that).
	Rate float64 `yaml:"rate"`
	// MaxRequests, if set, caps the number of requests submitted.
	MaxRequests int `yaml:"maxRequests"`
	// Requests bounds the random requests.
	Requests RequestSpec `yaml:"requests"`
	// Scripted are requests submitted exactly as written, at set times
	// (for reproducing one situation), on top of the random ones.
	Scripted []ScriptedRequest `yaml:"scripted"`
}

// ScriptedRequest is one request submitted at a set time. Zero fields take
// the defaults shown.
type ScriptedRequest struct {
	// At is when it is submitted, in seconds after the start. Required to
	// be within the active phase.
	At                    int64  `yaml:"at"`
	Slots                 uint64 `yaml:"slots"`                 // 1
	SlotSize              uint64 `yaml:"slotSize"`              // 1024
	Duration              uint64 `yaml:"duration"`              // 600
	Expiry                uint64 `yaml:"expiry"`                // relative; 300
	PricePerBytePerSecond uint64 `yaml:"pricePerBytePerSecond"` // 1
	CollateralPerByte     uint64 `yaml:"collateralPerByte"`     // 1
	ProofProbability      uint64 `yaml:"proofProbability"`      // 1
	MaxSlotLoss           uint64 `yaml:"maxSlotLoss"`
	// Client is the number of the client submitting it (from 0).
	Client int `yaml:"client"`
}

// RequestSpec bounds random requests (simmarket.RequestGen); zero fields
// take RequestGen's defaults.
type RequestSpec struct {
	Slots    Range `yaml:"slots"`    // slots per request
	SlotSize Range `yaml:"slotSize"` // bytes
	Duration Range `yaml:"duration"` // seconds
	// MaxExpiry caps the relative expiry, drawn from [1, MaxExpiry].
	MaxExpiry                uint64 `yaml:"maxExpiry"`
	MaxPricePerBytePerSecond uint64 `yaml:"maxPricePerBytePerSecond"`
	MaxCollateralPerByte     uint64 `yaml:"maxCollateralPerByte"`
	MaxProofProbability      uint64 `yaml:"maxProofProbability"`
}

// Range is an inclusive range of whole numbers, written {min: 1, max: 4}.
type Range struct {
	Min uint64 `yaml:"min"`
	Max uint64 `yaml:"max"`
}

// CompetitorSpec is a simulated competing host (simmarket.Competitor).
type CompetitorSpec struct {
	// Name labels it in traces. Required.
	Name string `yaml:"name"`
	// Count replicates it (name-1, name-2, ...). Default 1.
	Count                int     `yaml:"count"`
	TakeProbability      float64 `yaml:"takeProbability"`      // chance it goes after an offered slot
	ReserveDelay         uint64  `yaml:"reserveDelay"`         // seconds before it reserves
	FillDelay            uint64  `yaml:"fillDelay"`            // seconds after reserving before it fills
	MissProofProbability float64 `yaml:"missProofProbability"` // chance it skips a required proof
	AbandonProbability   float64 `yaml:"abandonProbability"`   // chance per period it abandons a slot
}

// NodeSpec is one storage node under test.
type NodeSpec struct {
	// Name identifies the node in traces, samples and paths: letters,
	// digits, '-' and '_'. Required.
	Name string `yaml:"name"`
	// Count replicates the node (name-1, name-2, ...). Default 1.
	Count int `yaml:"count"`
	// Quota is the repo's byte quota. Default 1 GiB.
	Quota uint64 `yaml:"quota"`
	// OnDisk keeps the repo in badger on disk (under Config.Dir) instead
	// of in memory. Required for sigkill crashes.
	OnDisk bool `yaml:"onDisk"`
	// Durable syncs every commit of an on-disk repo (the repostore
	// default); without it commits are not synced (NoSync).
	Durable bool `yaml:"durable"`
	// MaxWorkers and QueueSize configure Sales' slot queue (defaults 3
	// and 128).
	MaxWorkers int `yaml:"maxWorkers"`
	QueueSize  int `yaml:"queueSize"`
	// ReconcilePeriod is Sales' reconcile period in seconds. Default 600;
	// negative turns the periodic reconcile off.
	ReconcilePeriod int64 `yaml:"reconcilePeriod"`
	// Blocks is how many blocks (each its own store call) a download
	// hands over per slot. Default 2.
	Blocks int `yaml:"blocks"`
	// Availabilities are created, in order, before the run starts.
	Availabilities []AvailabilitySpec `yaml:"availabilities"`
}

// AvailabilitySpec is an availability an operator offers.
type AvailabilitySpec struct {
	TotalSize                uint64 `yaml:"totalSize"` // bytes; required
	Duration                 uint64 `yaml:"duration"`  // longest request accepted, seconds; required
	MinPricePerBytePerSecond uint64 `yaml:"minPricePerBytePerSecond"`
	TotalCollateral          uint64 `yaml:"totalCollateral"` // the collateral budget; required
	// Disabled creates it disabled (no new sales).
	Disabled bool `yaml:"disabled"`
	// Until is the latest end of a hosted slot, seconds after the start;
	// 0 means no limit.
	Until int64 `yaml:"until"`
}

// When says when a fault, an operator action or a crash happens: with
// Probability at each step, at the listed steps, and at the listed
// times (seconds after the start), during the active phase. For faults of
// a per-call kind, Probability is per call instead, and a step or time
// arms the next matching call.
type When struct {
	Probability float64  `yaml:"probability"`
	Steps       []uint64 `yaml:"steps"`
	At          []int64  `yaml:"at"`
}

// Fault kinds. Per-call kinds decide at every matching call; per-step
// kinds act on the market between steps.
const (
	// FaultMarketError fails a node's market call (per call; Methods
	// narrows which; subscriptions and GetSigner never fail).
	FaultMarketError = "market-error"
	// FaultDatastore fails a datastore call of a node's repo (per call:
	// get, has, put, delete, query or commit; Methods narrows which), so
	// the repo operation that made it fails as a whole.
	FaultDatastore = "datastore"
	// FaultDownloadError makes a node's download (OnStore) fail (per call).
	FaultDownloadError = "download-error"
	// FaultSlowDownload makes one block of a download wait Delay seconds
	// of market time (per block).
	FaultSlowDownload = "slow-download"
	// FaultProofFailure makes computing a proof (OnProve) fail (per call).
	FaultProofFailure = "proof-failure"
	// FaultMissedProof makes computing a proof take until the next period
	// and produce an invalid proof, so the period's proof is missed (per
	// call).
	FaultMissedProof = "missed-proof"
	// FaultCompetitorTake makes a rogue host fill a random free slot of a
	// new request first (per step).
	FaultCompetitorTake = "competitor-take"
	// FaultCancelRequest makes a random request that has not started
	// expire now (per step).
	FaultCancelRequest = "cancel-request"
	// FaultFailRequest makes a random started request fail (per step).
	FaultFailRequest = "fail-request"
	// FaultRepair makes the host of a random filled slot release it, so
	// the slot is freed and offered for repair (per step).
	FaultRepair = "repair"
)

var faultKinds = []string{FaultMarketError, FaultDatastore, FaultDownloadError, FaultSlowDownload,
	FaultProofFailure, FaultMissedProof, FaultCompetitorTake, FaultCancelRequest, FaultFailRequest, FaultRepair}

func perCall(kind string) bool {
	switch kind {
	case FaultMarketError, FaultDatastore, FaultDownloadError, FaultSlowDownload, FaultProofFailure, FaultMissedProof:
		return true
	}
	return false
}

// marketMethods are the market.Market methods a market-error fault can
// fail.
var marketMethods = []string{"Configuration", "Periodicity", "ProofDowntime", "GetRequest", "RequestState",
	"GetRequestEnd", "RequestExpiresAt", "SlotState", "GetActiveSlot", "MySlots", "GetHost",
	"CurrentCollateral", "SlotCollateral", "CanReserveSlot", "GetPointer", "GetChallenge",
	"IsProofRequired", "WillProofBeRequired", "ReserveSlot", "FillSlot", "FreeSlot", "SubmitProof", "FilledSince"}

// datastoreCalls are the calls repostore's FaultHook sees.
var datastoreCalls = []string{"get", "has", "put", "delete", "query", "commit"}

// FaultSpec is one kind of fault and when it strikes.
type FaultSpec struct {
	// Kind is one of the Fault* constants. Required.
	Kind string `yaml:"kind"`
	When `yaml:",inline"`
	// Nodes narrows node faults to these nodes (default: every node).
	Nodes []string `yaml:"nodes"`
	// Methods narrows market-error to these market methods and datastore
	// to these calls.
	Methods []string `yaml:"methods"`
	// Delay is the wait of slow-download, in seconds. Required for it.
	Delay Range `yaml:"delay"`
	// Hosts narrows repair to the slots these hosts hold (node or
	// competitor names, or rogue, the host of competitor-take; default:
	// any host).
	Hosts []string `yaml:"hosts"`
}

// Operator actions.
const (
	ActionResize  = "resize"  // change TotalSize (refused below what reservations hold)
	ActionDisable = "disable" // no new sales; running ones continue
	ActionEnable  = "enable"
	ActionDelete  = "delete" // refused while reservations exist
	ActionCreate  = "create" // a new availability (Create)
)

var actions = []string{ActionResize, ActionDisable, ActionEnable, ActionDelete, ActionCreate}

// OperatorAction is an availability change an operator makes while sales
// run. Availabilities are numbered per node in creation order, from 0:
// first those of NodeSpec.Availabilities, then those made by create.
type OperatorAction struct {
	// Action is one of the Action* constants. Required.
	Action string `yaml:"action"`
	When   `yaml:",inline"`
	// Node is the node whose availability changes (default: one drawn at
	// random each time).
	Node string `yaml:"node"`
	// Availability is the availability's number (default 0).
	Availability int `yaml:"availability"`
	// TotalSize is resize's new size; Sizes instead draws it each time.
	TotalSize uint64 `yaml:"totalSize"`
	Sizes     Range  `yaml:"sizes"`
	// Create is the availability create makes.
	Create *AvailabilitySpec `yaml:"create"`
}

// Crash kinds.
const (
	// CrashMemory stops the node without any cleanup and reopens its repo
	// from what was committed before the crash, in this process.
	CrashMemory = "memory"
	// CrashSigkill runs the node, replayed from the start, in a child
	// process on a durable on-disk repo, kills it with SIGKILL at the crash
	// point, and restarts the node from the child's data directory.
	CrashSigkill = "sigkill"
)

// CrashSpec is a kind of crash and when it happens. The crash lands at
// the node's n-th datastore call from then on, n drawn at random in
// [0, 16), so it can interrupt an operation; or after the step when n is
// 0, or when the node makes fewer calls before the clock next moves. The
// node restarts at the end of the step in which it crashed.
type CrashSpec struct {
	// Kind is memory (default) or sigkill.
	Kind string `yaml:"kind"`
	When `yaml:",inline"`
	// Node is the node that crashes (default: one drawn at random among
	// those the kind allows).
	Node string `yaml:"node"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ParseScenario reads a scenario from YAML, strictly: an unknown field, a
// duplicate key or a value of the wrong type is an error, and so is a
// scenario that fails Validate. Errors wrap ErrInvalidScenario and name
// the line (and the field) at fault.
func ParseScenario(data []byte) (*Scenario, error) {
	var sc Scenario
	if err := yaml.UnmarshalWithOptions(data, &sc, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidScenario, strings.TrimSpace(yaml.FormatError(err, false, true)))
	}
	if err := sc.Validate(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			if line := lineOf(data, fe.path); line > 0 {
				return nil, fmt.Errorf("%w: line %d: %s: %s", ErrInvalidScenario, line, fe.path, fe.msg)
			}
		}
		return nil, err
	}
	return &sc, nil
}

// LoadScenario reads and parses the scenario file at path (see
// ParseScenario); errors name the file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: loading scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// fieldError is a validation error at a YAML path ("$.nodes[0].quota").
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrInvalidScenario, e.path, e.msg)
}

func (e *fieldError) Unwrap() error { return ErrInvalidScenario }

// lineOf returns the line of the node at path in data, or 0.
func lineOf(data []byte, path string) int {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return 0
	}
	for p := path; p != "$"; {
		yp, err := yaml.PathString(p)
		if err == nil {
			if n, err := yp.FilterFile(f); err == nil && n != nil {
				return n.GetToken().Position.Line
			}
		}
		// The field may be absent (a missing required field): try its
		// parent.
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// Validate checks that the scenario can run. Its error wraps
// ErrInvalidScenario and names the field at fault by its YAML path.
func (s *Scenario) Validate() error {
	bad := func(path, format string, args ...any) error {
		return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case s.Name == "":
		return bad("$.name", "is required")
	case !nameRE.MatchString(s.Name):
		return bad("$.name", "%q: use letters, digits, '-' and '_'", s.Name)
	case s.Start < 0:
		return bad("$.start", "must not be negative")
	case s.Duration < 0:
		return bad("$.duration", "must not be negative")
	case s.Duration == 0 && s.Steps == 0:
		return bad("$.duration", "duration or steps is required")
	case s.Settle < 0:
		return bad("$.settle", "must not be negative")
	}
	m := s.Market
	cfg := s.marketConfig()
	if err := cfg.Validate(); err != nil {
		return bad("$.market", "%v", err)
	}
	if period := cfg.Proofs.Period; period >= uint64(cfg.Proofs.Downtime)*max(m.BlockTime, 12) && cfg.Proofs.Downtime > 0 {
		return bad("$.market.period", "%d must be below downtime × blockTime (%d)", period,
			uint64(cfg.Proofs.Downtime)*max(m.BlockTime, 12))
	}
	c := s.Clients
	switch {
	case c.Count < 0:
		return bad("$.clients.count", "must not be negative")
	case c.Rate < 0:
		return bad("$.clients.rate", "must not be negative")
	case c.MaxRequests < 0:
		return bad("$.clients.maxRequests", "must not be negative")
	}
	for i, q := range c.Scripted {
		p := fmt.Sprintf("$.clients.scripted[%d]", i)
		q = q.withDefaults()
		switch {
		case q.At < 0 || (s.Duration > 0 && q.At >= s.Duration):
			return bad(p+".at", "%d is not within the active phase", q.At)
		case q.Slots > 256:
			return bad(p+".slots", "at most 256 slots")
		case q.MaxSlotLoss > q.Slots:
			return bad(p+".maxSlotLoss", "above the slots")
		case q.Duration < 2 || q.Expiry >= q.Duration:
			return bad(p+".expiry", "the expiry %d must be below the duration %d (at least 2)", q.Expiry, q.Duration)
		case q.SlotSize > 16<<20:
			return bad(p+".slotSize", "at most 16 MiB")
		case q.Client < 0 || q.Client >= max(c.Count, 1):
			return bad(p+".client", "no client %d", q.Client)
		}
	}
	for name, r := range map[string]Range{"slots": c.Requests.Slots, "slotSize": c.Requests.SlotSize,
		"duration": c.Requests.Duration} {
		if r.Max != 0 && r.Min > r.Max {
			return bad("$.clients.requests."+name, "min %d is above max %d", r.Min, r.Max)
		}
	}
	if r := c.Requests.Slots; r.Max > 256 {
		return bad("$.clients.requests.slots", "at most 256 slots")
	}
	if r := c.Requests.Duration; r.Min == 1 || r.Max == 1 {
		return bad("$.clients.requests.duration", "a request lasts at least 2 seconds")
	}
	if r := c.Requests.SlotSize; r.Max > 16<<20 {
		return bad("$.clients.requests.slotSize", "at most 16 MiB (the simulation writes every byte)")
	}
	names := map[string]bool{}
	for i, cs := range s.Competitors {
		p := fmt.Sprintf("$.competitors[%d]", i)
		switch {
		case !nameRE.MatchString(cs.Name):
			return bad(p+".name", "%q: a name of letters, digits, '-' and '_' is required", cs.Name)
		case cs.Count < 0:
			return bad(p+".count", "must not be negative")
		case !isProb(cs.TakeProbability):
			return bad(p+".takeProbability", "must be in [0, 1]")
		case !isProb(cs.MissProofProbability):
			return bad(p+".missProofProbability", "must be in [0, 1]")
		case !isProb(cs.AbandonProbability):
			return bad(p+".abandonProbability", "must be in [0, 1]")
		}
		for _, n := range expandNames(cs.Name, cs.Count) {
			if names[n] {
				return bad(p+".name", "%q is used twice", n)
			}
			names[n] = true
		}
	}
	if len(s.Nodes) == 0 {
		return bad("$.nodes", "at least one node is required")
	}
	nodeNames := map[string]bool{}
	onDisk := false
	for i, n := range s.Nodes {
		p := fmt.Sprintf("$.nodes[%d]", i)
		switch {
		case !nameRE.MatchString(n.Name):
			return bad(p+".name", "%q: a name of letters, digits, '-' and '_' is required", n.Name)
		case n.Count < 0:
			return bad(p+".count", "must not be negative")
		case n.MaxWorkers < 0:
			return bad(p+".maxWorkers", "must not be negative")
		case n.QueueSize < 0:
			return bad(p+".queueSize", "must not be negative")
		case n.Blocks < 0 || n.Blocks > 64:
			return bad(p+".blocks", "must be in [0, 64]")
		case n.Durable && !n.OnDisk:
			return bad(p+".durable", "only an onDisk node can be durable")
		case len(n.Availabilities) == 0:
			return bad(p+".availabilities", "at least one availability is required")
		}
		onDisk = onDisk || n.OnDisk
		for _, name := range expandNames(n.Name, n.Count) {
			if nodeNames[name] || names[name] {
				return bad(p+".name", "%q is used twice", name)
			}
			nodeNames[name] = true
		}
		for j, a := range n.Availabilities {
			if err := a.validate(fmt.Sprintf("%s.availabilities[%d]", p, j), bad); err != nil {
				return err
			}
		}
	}
	nodeRef := func(path, name string) error {
		if name != "" && !nodeNames[name] {
			return bad(path, "no node is named %q", name)
		}
		return nil
	}
	for i, f := range s.Faults {
		p := fmt.Sprintf("$.faults[%d]", i)
		if !slices.Contains(faultKinds, f.Kind) {
			return bad(p+".kind", "%q is not one of %s", f.Kind, strings.Join(faultKinds, ", "))
		}
		if err := f.When.validate(p, bad); err != nil {
			return err
		}
		for j, n := range f.Nodes {
			if err := nodeRef(fmt.Sprintf("%s.nodes[%d]", p, j), n); err != nil {
				return err
			}
		}
		switch f.Kind {
		case FaultMarketError, FaultDatastore:
			valid := marketMethods
			if f.Kind == FaultDatastore {
				valid = datastoreCalls
			}
			for j, meth := range f.Methods {
				if !slices.Contains(valid, meth) {
					return bad(fmt.Sprintf("%s.methods[%d]", p, j), "%q is not one of %s", meth, strings.Join(valid, ", "))
				}
			}
		default:
			if len(f.Methods) > 0 {
				return bad(p+".methods", "only market-error and datastore faults take methods")
			}
		}
		if !perCall(f.Kind) && len(f.Nodes) > 0 {
			return bad(p+".nodes", "%s acts on the market, not on a node", f.Kind)
		}
		for j, h := range f.Hosts {
			if f.Kind != FaultRepair {
				return bad(p+".hosts", "only repair takes hosts")
			}
			if !nodeNames[h] && !names[h] && h != "rogue" {
				return bad(fmt.Sprintf("%s.hosts[%d]", p, j), "no node or competitor is named %q (nor rogue, the host of competitor-take)", h)
			}
		}
		if f.Kind == FaultSlowDownload {
			if f.Delay.Max == 0 || f.Delay.Min > f.Delay.Max {
				return bad(p+".delay", "slow-download needs a delay with 0 < max and min <= max")
			}
		} else if f.Delay != (Range{}) {
			return bad(p+".delay", "only slow-download takes a delay")
		}
	}
	for i, a := range s.Operator {
		p := fmt.Sprintf("$.operator[%d]", i)
		if !slices.Contains(actions, a.Action) {
			return bad(p+".action", "%q is not one of %s", a.Action, strings.Join(actions, ", "))
		}
		if err := a.When.validate(p, bad); err != nil {
			return err
		}
		if err := nodeRef(p+".node", a.Node); err != nil {
			return err
		}
		if a.Availability < 0 {
			return bad(p+".availability", "must not be negative")
		}
		switch a.Action {
		case ActionResize:
			fixed, drawn := a.TotalSize > 0, a.Sizes.Max > 0
			if fixed == drawn {
				return bad(p+".totalSize", "resize needs exactly one of totalSize and sizes")
			}
			if drawn && a.Sizes.Min > a.Sizes.Max {
				return bad(p+".sizes", "min %d is above max %d", a.Sizes.Min, a.Sizes.Max)
			}
		default:
			if a.TotalSize > 0 || a.Sizes != (Range{}) {
				return bad(p+".totalSize", "only resize takes a size")
			}
		}
		if a.Action == ActionCreate {
			if a.Create == nil {
				return bad(p+".create", "create needs the availability to create")
			}
			if err := a.Create.validate(p+".create", bad); err != nil {
				return err
			}
		} else if a.Create != nil {
			return bad(p+".create", "only create takes an availability")
		}
	}
	for i, c := range s.Crashes {
		p := fmt.Sprintf("$.crashes[%d]", i)
		switch c.Kind {
		case "", CrashMemory:
		case CrashSigkill:
			if c.Node == "" && !onDisk {
				return bad(p+".kind", "sigkill needs an onDisk node")
			}
		default:
			return bad(p+".kind", "%q is not memory or sigkill", c.Kind)
		}
		if err := c.When.validate(p, bad); err != nil {
			return err
		}
		if err := nodeRef(p+".node", c.Node); err != nil {
			return err
		}
		if c.Kind == CrashSigkill && c.Node != "" {
			for _, n := range s.expandNodes() {
				if n.Name == c.Node && !n.OnDisk {
					return bad(p+".node", "sigkill needs an onDisk node; %q is in memory", c.Node)
				}
			}
		}
	}
	return nil
}

func (a *AvailabilitySpec) validate(p string, bad func(path, format string, args ...any) error) error {
	switch {
	case a.TotalSize == 0:
		return bad(p+".totalSize", "must be positive")
	case a.Duration == 0:
		return bad(p+".duration", "must be positive")
	case a.TotalCollateral == 0:
		return bad(p+".totalCollateral", "must be positive")
	case a.Until < 0:
		return bad(p+".until", "must not be negative")
	}
	return nil
}

func (w *When) validate(p string, bad func(path, format string, args ...any) error) error {
	if !isProb(w.Probability) {
		return bad(p+".probability", "must be in [0, 1]")
	}
	if w.Probability == 0 && len(w.Steps) == 0 && len(w.At) == 0 {
		return bad(p, "needs a probability, steps or at")
	}
	for j, s := range w.Steps {
		if s == 0 {
			return bad(fmt.Sprintf("%s.steps[%d]", p, j), "steps count from 1")
		}
	}
	for j, t := range w.At {
		if t < 0 {
			return bad(fmt.Sprintf("%s.at[%d]", p, j), "must not be negative")
		}
	}
	return nil
}

func isProb(p float64) bool { return p >= 0 && p <= 1 }

// expandNames returns the names of count replicas of name.
func expandNames(name string, count int) []string {
	if count <= 1 {
		return []string{name}
	}
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", name, i+1)
	}
	return out
}

// expandNodes returns one NodeSpec per node, replicas expanded.
func (s *Scenario) expandNodes() []NodeSpec {
	var out []NodeSpec
	for _, n := range s.Nodes {
		for _, name := range expandNames(n.Name, n.Count) {
			c := n
			c.Name, c.Count = name, 1
			out = append(out, c)
		}
	}
	return out
}

// marketConfig returns the contract configuration of the scenario.
func (s *Scenario) marketConfig() market.Config {
	c := market.DefaultConfig()
	m := s.Market
	c.Proofs.Period = 60
	set64 := func(dst *uint64, v uint64) {
		if v != 0 {
			*dst = v
		}
	}
	set8 := func(dst *uint8, v uint8) {
		if v != 0 {
			*dst = v
		}
	}
	set64(&c.Proofs.Period, m.Period)
	set64(&c.Proofs.Timeout, m.Timeout)
	set8(&c.Proofs.Downtime, m.Downtime)
	set8(&c.Proofs.DowntimeProduct, m.DowntimeProduct)
	set8(&c.Reservations.MaxReservations, m.MaxReservations)
	set8(&c.Collateral.RepairRewardPercentage, m.RepairRewardPercentage)
	set8(&c.Collateral.MaxNumberOfSlashes, m.MaxNumberOfSlashes)
	set8(&c.Collateral.SlashPercentage, m.SlashPercentage)
	set8(&c.Collateral.ValidatorRewardPercentage, m.ValidatorRewardPercentage)
	set64(&c.RequestDurationLimit, m.DurationLimit)
	return c
}

// withDefaults fills the zero fields of q.
func (q ScriptedRequest) withDefaults() ScriptedRequest {
	def := func(v *uint64, d uint64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&q.Slots, 1)
	def(&q.SlotSize, 1024)
	def(&q.Duration, 600)
	def(&q.Expiry, 300)
	def(&q.PricePerBytePerSecond, 1)
	def(&q.CollateralPerByte, 1)
	def(&q.ProofProbability, 1)
	return q
}
