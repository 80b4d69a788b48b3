package api

import (
	"github.com/hostsales/hostsales/market"
	"github.com/hostsales/hostsales/reservations"
	"github.com/hostsales/hostsales/sales"
)

// BasePath is the prefix of every endpoint of the REST API (SPEC §7).
const BasePath = "/api/codex/v1"

// CreateAvailabilityRequest is the body of POST /sales/availability. A nil
// pointer field was not given; totalSize, duration,
// minPricePerBytePerSecond and totalCollateral are required.
type CreateAvailabilityRequest struct {
	TotalSize                *reservations.U64  `json:"totalSize"`
	Duration                 *reservations.U64  `json:"duration"`
	MinPricePerBytePerSecond *reservations.U256 `json:"minPricePerBytePerSecond"`
	TotalCollateral          *reservations.U256 `json:"totalCollateral"`
	// FreeSize is accepted and ignored (SPEC §7).
	FreeSize *reservations.U64 `json:"freeSize,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// Until defaults to 0 (no limit); negative is refused.
	Until *reservations.I64 `json:"until,omitempty"`
}

// UpdateAvailabilityRequest is the body of PATCH /sales/availability/{id}.
// Every field is optional; a nil field stays as it is. FreeSize is refused
// (422 "Updating freeSize is not allowed") but is part of the wire form.
type UpdateAvailabilityRequest struct {
	TotalSize                *reservations.U64  `json:"totalSize,omitempty"`
	FreeSize                 *reservations.U64  `json:"freeSize,omitempty"`
	Duration                 *reservations.U64  `json:"duration,omitempty"`
	MinPricePerBytePerSecond *reservations.U256 `json:"minPricePerBytePerSecond,omitempty"`
	TotalCollateral          *reservations.U256 `json:"totalCollateral,omitempty"`
	Enabled                  *bool              `json:"enabled,omitempty"`
	Until                    *reservations.I64  `json:"until,omitempty"`
}

// Slot is one element of GET /sales/slots: {id, request, slotIndex}; the
// request's JSON carries its derived "id" too (SPEC §7).
type Slot struct {
	ID        market.SlotID         `json:"id"`
	Request   market.StorageRequest `json:"request"`
	SlotIndex uint64                `json:"slotIndex"`
}

// SlotDetail is the answer of GET /sales/slots/{slotId}: the live sale of
// the slot. State is the sale state's name (sales.State*), or "none".
type SlotDetail struct {
	State       string                    `json:"state"`
	RequestID   market.RequestID          `json:"requestId"`
	SlotIndex   uint64                    `json:"slotIndex"`
	Request     *market.StorageRequest    `json:"request,omitempty"`
	Reservation *reservations.Reservation `json:"reservation,omitempty"`
}

// QueueItem is one queued slot of GET /sales/queue, best first.
type QueueItem struct {
	RequestID             market.RequestID  `json:"requestId"`
	SlotIndex             uint64            `json:"slotIndex"`
	SlotSize              uint64            `json:"slotSize"`
	Duration              uint64            `json:"duration"`
	PricePerBytePerSecond reservations.U256 `json:"pricePerBytePerSecond"`
	Collateral            reservations.U256 `json:"collateral"`
	Expiry                uint64            `json:"expiry"`
	Seen                  bool              `json:"seen"`
}

// QueueStatus is the answer of GET /sales/queue (our addition).
type QueueStatus struct {
	Length      int         `json:"length"`
	Capacity    int         `json:"capacity"`
	Paused      bool        `json:"paused"`
	WorkersBusy int         `json:"workersBusy"`
	Items       []QueueItem `json:"items"`
}

// Space is the answer of GET /space (SPEC §7).
type Space struct {
	TotalBlocks        int64  `json:"totalBlocks"`
	QuotaMaxBytes      uint64 `json:"quotaMaxBytes"`
	QuotaUsedBytes     uint64 `json:"quotaUsedBytes"`
	QuotaReservedBytes uint64 `json:"quotaReservedBytes"`
}

// LogEntry is one line of a sale's event log (GET /sales/slots/{slotId}/log).
type LogEntry = sales.LogEntry
