package market

import (
	"errors"
	"math"
	"testing"

	"github.com/holiman/uint256"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reference: SPEC.md §1.4 derived values; MARKET.md §4.3 amounts.
func TestDerivedAmounts(t *testing.T) {
	a := vectorRequest(t).Ask
	p := uint64(1073741824)

	got := a.PricePerSlotPerSecond()
	assert.Equal(t, p, got.Uint64())
	got = a.CollateralPerSlot()
	assert.Equal(t, p, got.Uint64())
	got = a.PricePerSlot()
	assert.Equal(t, 36000*p, got.Uint64())
	got = a.TotalPrice()
	assert.Equal(t, "154618822656000", got.Dec(), "maxPrice = 144,000 p")
	assert.Equal(t, uint64(4*p), a.Size())

	mp, err := a.MaxPrice()
	require.NoError(t, err)
	assert.Equal(t, a.TotalPrice(), mp)
}

func TestDerivedAmountsSaturate(t *testing.T) {
	a := StorageAsk{
		PricePerBytePerSecond: MaxUint256,
		CollateralPerByte:     MaxUint256,
		Slots:                 math.MaxUint64,
		SlotSize:              2,
		Duration:              2,
	}
	assert.Equal(t, MaxUint256, a.PricePerSlotPerSecond())
	assert.Equal(t, MaxUint256, a.PricePerSlot())
	assert.Equal(t, MaxUint256, a.CollateralPerSlot())
	assert.Equal(t, MaxUint256, a.TotalPrice())
	assert.Equal(t, uint64(math.MaxUint64), a.Size())

	a.SlotSize = 0
	zero := a.CollateralPerSlot()
	assert.True(t, zero.IsZero(), "0 × anything is 0, not saturated")
}

// Reference: MARKET.md §9: slots × duration is computed in 64 bits first.
func TestMaxPriceArithmetic(t *testing.T) {
	tests := []struct {
		name string
		ask  StorageAsk
		err  bool
	}{
		{"slots × duration overflows 64 bits", StorageAsk{PricePerBytePerSecond: *uint256.NewInt(0), Slots: 1 << 32, Duration: 1 << 32}, true},
		{"price per slot overflows 256 bits", StorageAsk{PricePerBytePerSecond: MaxUint256, SlotSize: 2, Slots: 1, Duration: 1}, true},
		{"total overflows 256 bits", StorageAsk{PricePerBytePerSecond: MaxUint256, SlotSize: 1, Slots: 2, Duration: 1}, true},
		{"fits", StorageAsk{PricePerBytePerSecond: *uint256.NewInt(3), SlotSize: 5, Slots: 2, Duration: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.ask.MaxPrice()
			if tt.err {
				assert.ErrorIs(t, err, ErrArithmetic)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint64(210), v.Uint64())
		})
	}
}

func TestStateNames(t *testing.T) {
	for s := RequestStateNew; s <= RequestStateFailed; s++ {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back RequestState
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
	}
	for s := SlotStateFree; s <= SlotStateRepair; s++ {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back SlotState
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
	}
	assert.Equal(t, "Cancelled", RequestStateCancelled.String())
	assert.Equal(t, "Repair", SlotStateRepair.String())
	assert.Equal(t, "RequestState(9)", RequestState(9).String())
	assert.Equal(t, "SlotState(9)", SlotState(9).String())
	_, err := RequestState(9).MarshalText()
	assert.ErrorIs(t, err, ErrInvalidStateName)
	var s SlotState
	assert.ErrorIs(t, s.UnmarshalText([]byte("free")), ErrInvalidStateName)
	assert.True(t, RequestStateFailed.IsTerminal())
	assert.False(t, RequestStateStarted.IsTerminal())
}

func TestConfigValidate(t *testing.T) {
	// Reference: MARKET.md §7, creation checks in order.
	tests := []struct {
		name   string
		modify func(*Config)
		want   error
	}{
		{"defaults", func(*Config) {}, nil},
		{"period 0 first", func(c *Config) { c.Proofs.Period = 0; c.Collateral.SlashPercentage = 200 }, ErrInvalidSecondsPerPeriod},
		{"repair reward above 100", func(c *Config) { c.Collateral.RepairRewardPercentage = 101; c.Collateral.SlashPercentage = 101 }, ErrRepairRewardPercentageTooHigh},
		{"slash above 100", func(c *Config) { c.Collateral.SlashPercentage = 101 }, ErrSlashPercentageTooHigh},
		{"max slashing above 100", func(c *Config) { c.Collateral.MaxNumberOfSlashes = 6 }, ErrMaximumSlashingTooHigh},
		{"max slashing product above 255 is a panic", func(c *Config) {
			c.Collateral.MaxNumberOfSlashes = 13
		}, ErrArithmetic},
		{"exactly 100 allowed", func(c *Config) { c.Collateral.MaxNumberOfSlashes = 5 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

// Reference: MARKET.md §4.3: a repair fill costs C − floor(C/10).
func TestSlotCollateral(t *testing.T) {
	c := DefaultConfig()
	coll := *uint256.NewInt(1073741824)
	free := c.SlotCollateral(coll, SlotStateFree)
	assert.Equal(t, uint64(1073741824), free.Uint64())
	repair := c.SlotCollateral(coll, SlotStateRepair)
	assert.Equal(t, uint64(966367642), repair.Uint64())
	slash := Percent(coll, 20)
	assert.Equal(t, uint64(214748364), slash.Uint64())
	reward := Percent(slash, 20)
	assert.Equal(t, uint64(42949672), reward.Uint64())
	huge := Percent(MaxUint256, 100)
	assert.Equal(t, MaxUint256, huge, "no overflow in the intermediate product")
}

func TestPeriodicity(t *testing.T) {
	p := Periodicity{Seconds: 120}
	assert.Equal(t, uint64(0), p.PeriodOf(0))
	assert.Equal(t, uint64(0), p.PeriodOf(119))
	assert.Equal(t, uint64(1), p.PeriodOf(120))
	assert.Equal(t, int64(240), p.PeriodStart(2))
	assert.Equal(t, int64(360), p.PeriodEnd(2))
	assert.Equal(t, uint64(0), p.PeriodOf(-5))
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		err  *ContractError
		kind error
	}{
		{ErrSlotNotFree, ErrSlotStateMismatch},
		{ErrSlotIsFree, ErrSlotStateMismatch},
		{ErrReservationNotAllowed, ErrSlotReservationNotAllowed},
		{ErrInvalidProof, ErrProofInvalid},
		{ErrUnknownRequest, ErrMarket},
	}
	for _, tt := range tests {
		t.Run(tt.err.Name, func(t *testing.T) {
			wrapped := errors.Join(errors.New("ctx"), tt.err)
			assert.ErrorIs(t, wrapped, tt.err)
			assert.ErrorIs(t, wrapped, tt.kind)
			assert.ErrorIs(t, wrapped, ErrMarket)
			var ce *ContractError
			require.ErrorAs(t, wrapped, &ce)
			assert.Equal(t, tt.err.Name, ce.Name)
			// A ContractError built elsewhere matches by name.
			other := &ContractError{Name: tt.err.Name}
			assert.ErrorIs(t, other, tt.err)
			assert.ErrorIs(t, other, tt.kind)
		})
	}
	assert.NotErrorIs(t, ErrSlotNotFree, ErrSlotIsFree)
	assert.NotErrorIs(t, ErrUnknownRequest, ErrSlotStateMismatch)
	assert.Same(t, ErrSlotNotFree, NewContractError("Marketplace_SlotNotFree"))
	assert.Equal(t, "Custom_Error", NewContractError("Custom_Error").Name)
	assert.Equal(t, "market: Marketplace_SlotNotFree", ErrSlotNotFree.Error())
}
