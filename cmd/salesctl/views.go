package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/reservations"
)

func (a *app) reservationsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "reservations",
		Aliases: []string{"reservation"},
		Short:   "List reservations",
		Args:    noArgs,
		RunE:    a.missingSubcommand,
	}
	list := &cobra.Command{Use: "list [--availability ID]", Aliases: []string{"ls"},
		Short: "List the reservations, of every availability or of one", Args: noArgs}
	var avail string
	list.Flags().StringVar(&avail, "availability", "", "only the reservations of this availability")
	list.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		var id reservations.AvailabilityID
		one := cmd.Flags().Changed("availability")
		if one {
			var err error
			if id, err = parseAvailabilityID(avail); err != nil {
				return err
			}
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			var rs []reservations.Reservation
			var err error
			if one {
				rs, err = c.Reservations(ctx, id)
			} else {
				rs, err = c.AllReservations(ctx)
			}
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, nonNil(rs))
			}
			if len(rs) == 0 {
				fmt.Fprintln(a.stderr, "no reservations")
				return nil
			}
			t := newTable(a.stdout, "ID", "AVAILABILITY", "REQUEST", "SLOT", "SLOT SIZE", "UNWRITTEN", "COLLATERAL",
				"VALID UNTIL", "FILLED")
			for _, r := range rs {
				t.row(r.ID.String(), r.AvailabilityID.String(), r.RequestID.String(), strconv.FormatUint(r.SlotIndex, 10),
					size(r.SlotSize), size(r.Size), r.Collateral.Dec(), unixTime(r.ValidUntil, "-"), yesNo(r.Filled))
			}
			return t.flush()
		})
	})
	cmd.AddCommand(list)
	return cmd
}

func (a *app) slotsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "slots",
		Aliases: []string{"slot"},
		Short:   "List the slots this host fills, show a slot's sale and its event log",
		Args:    noArgs,
		RunE:    a.missingSubcommand,
	}
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the slots the market says this host fills",
		Args: noArgs}
	list.RunE = a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			slots, err := c.Slots(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, nonNil(slots))
			}
			if len(slots) == 0 {
				fmt.Fprintln(a.stderr, "no slots")
				return nil
			}
			t := newTable(a.stdout, "SLOT ID", "REQUEST", "INDEX", "SLOT SIZE", "DURATION", "PRICE/BYTE/S")
			for _, s := range slots {
				ask := s.Request.Ask
				t.row(s.ID.String(), s.Request.ID().String(), strconv.FormatUint(s.SlotIndex, 10), size(ask.SlotSize),
					duration(ask.Duration), ask.PricePerBytePerSecond.Dec())
			}
			return t.flush()
		})
	})
	get := &cobra.Command{Use: "get SLOT_ID", Aliases: []string{"show"}, Short: "Show the live sale of a slot",
		Args: oneArg("slot ID")}
	get.RunE = a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
		id, err := parseSlotID(args[0])
		if err != nil {
			return err
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			d, err := c.Slot(ctx, id)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, d)
			}
			kv := []string{"slot id", id.String(), "state", d.State, "request", d.RequestID.String(),
				"slot index", strconv.FormatUint(d.SlotIndex, 10)}
			if r := d.Request; r != nil {
				kv = append(kv, "slot size", size(r.Ask.SlotSize), "duration", duration(r.Ask.Duration),
					"price/byte/s", r.Ask.PricePerBytePerSecond.Dec(), "collateral/byte", r.Ask.CollateralPerByte.Dec())
			}
			if r := d.Reservation; r != nil {
				kv = append(kv, "reservation", r.ID.String(), "availability", r.AvailabilityID.String(),
					"unwritten", size(r.Size), "collateral", r.Collateral.Dec(), "filled", yesNo(r.Filled))
			}
			return fields(a.stdout, kv...)
		})
	})
	logCmd := &cobra.Command{Use: "log SLOT_ID", Short: "Show the event log of a slot's sales, oldest first",
		Args: oneArg("slot ID")}
	logCmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
		id, err := parseSlotID(args[0])
		if err != nil {
			return err
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			entries, err := c.SlotLog(ctx, id)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, nonNil(entries))
			}
			t := newTable(a.stdout, "TIME", "FROM", "TO", "EVENT", "REASON")
			for _, e := range entries {
				from := string(e.From)
				if from == "" {
					from = "-"
				}
				t.row(unixTime(e.Time, "-"), from, string(e.To), string(e.Event), oneLine(e.Reason))
			}
			return t.flush()
		})
	})
	cmd.AddCommand(list, get, logCmd)
	return cmd
}

func (a *app) queueCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "Show the slot queue: the offered slots, best first", Args: noArgs}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			q, err := c.Queue(ctx)
			if err != nil {
				return err
			}
			if a.json {
				q.Items = nonNil(q.Items)
				return printJSON(a.stdout, q)
			}
			if err := fields(a.stdout, "queued", fmt.Sprintf("%d of %d", q.Length, q.Capacity),
				"paused", yesNo(q.Paused), "workers busy", strconv.Itoa(q.WorkersBusy)); err != nil {
				return err
			}
			if len(q.Items) == 0 {
				return nil
			}
			fmt.Fprintln(a.stdout)
			t := newTable(a.stdout, "REQUEST", "SLOT", "SLOT SIZE", "DURATION", "PRICE/BYTE/S", "COLLATERAL", "EXPIRY", "SEEN")
			for _, it := range q.Items {
				t.row(it.RequestID.String(), strconv.FormatUint(it.SlotIndex, 10), size(it.SlotSize), duration(it.Duration),
					it.PricePerBytePerSecond.Dec(), it.Collateral.Dec(), expiry(it.Expiry), yesNo(it.Seen))
			}
			return t.flush()
		})
	})
	return cmd
}

// expiry prints an absolute expiry in unix seconds.
func expiry(t uint64) string {
	if t > 1<<62 {
		return strconv.FormatUint(t, 10)
	}
	return unixTime(int64(t), "-")
}

func (a *app) spaceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "space", Short: "Show the repo's quota and block count", Args: noArgs}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			s, err := c.Space(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, s)
			}
			var avail uint64
			if t := s.QuotaUsedBytes + s.QuotaReservedBytes; t >= s.QuotaUsedBytes && t < s.QuotaMaxBytes {
				avail = s.QuotaMaxBytes - t
			}
			return fields(a.stdout,
				"quota", size(s.QuotaMaxBytes),
				"used", size(s.QuotaUsedBytes),
				"reserved", size(s.QuotaReservedBytes),
				"available", size(avail),
				"blocks", strconv.FormatInt(s.TotalBlocks, 10))
		})
	})
	return cmd
}
