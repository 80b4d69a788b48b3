package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hostsales/hostsales/api"
	"github.com/hostsales/hostsales/reservations"
)

// availabilityFlags are the terms of an availability, as flags of create
// and update.
type availabilityFlags struct {
	size       sizeFlag
	duration   durationFlag
	minPrice   amountFlag
	collateral amountFlag
	until      untilFlag
	disabled   bool
	enabled    bool
}

func (f *availabilityFlags) register(fs *pflag.FlagSet, update bool) {
	fs.Var(&f.size, "size", "the total size offered, e.g. 10GiB, 500MB, 1048576")
	fs.Var(&f.duration, "duration", "the longest request duration accepted, e.g. 30d, 12h, 90m, 3600s, 3600")
	fs.Var(&f.minPrice, "min-price", "the lowest price accepted, per byte per second (a whole number)")
	fs.Var(&f.collateral, "collateral", "the collateral budget, total (a whole number)")
	fs.Var(&f.until, "until", "the latest end of a hosted slot: RFC 3339, a date, unix seconds, or 0 for no limit")
	if update {
		fs.BoolVar(&f.enabled, "enabled", false, "take new sales again")
	}
	fs.BoolVar(&f.disabled, "disabled", false, "take no new sales (running ones continue)")
}

func (a *app) availabilityCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "availability",
		Aliases: []string{"availabilities", "avail"},
		Short:   "Create, list, show, change, enable, disable and delete availabilities",
		Args:    noArgs,
		RunE:    a.missingSubcommand,
	}
	cmd.AddCommand(a.availabilityCreate(), a.availabilityList(), a.availabilityGet(), a.availabilityUpdate(),
		a.availabilityEnable(true), a.availabilityEnable(false), a.availabilityDelete())
	return cmd
}

func (a *app) availabilityCreate() *cobra.Command {
	var f availabilityFlags
	cmd := &cobra.Command{
		Use:   "create --size SIZE --duration DURATION --min-price N --collateral N [--until TIME] [--disabled]",
		Short: "Offer storage: create an availability",
		Example: `  salesctl availability create --size 10GiB --duration 30d --min-price 1 --collateral 1000000
  salesctl availability create --size 500GB --duration 12h --min-price 5 --collateral 10 --until 2026-12-31 --disabled`,
		Args: noArgs,
	}
	f.register(cmd.Flags(), false)
	for _, name := range []string{"size", "duration", "min-price", "collateral"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		size, dur := reservations.U64(f.size.v), reservations.U64(f.duration.v)
		req := api.CreateAvailabilityRequest{TotalSize: &size, Duration: &dur,
			MinPricePerBytePerSecond: &reservations.U256{Int: f.minPrice.v},
			TotalCollateral:          &reservations.U256{Int: f.collateral.v}}
		if cmd.Flags().Changed("until") {
			until := reservations.I64(f.until.v)
			req.Until = &until
		}
		if f.disabled {
			enabled := false
			req.Enabled = &enabled
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			av, err := c.CreateAvailability(ctx, req)
			if err != nil {
				return err
			}
			return a.printAvailability(av)
		})
	})
	return cmd
}

func (a *app) availabilityList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the availabilities", Args: noArgs}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			avs, err := c.Availabilities(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, nonNil(avs))
			}
			if len(avs) == 0 {
				fmt.Fprintln(a.stderr, "no availabilities (salesctl availability create offers storage)")
				return nil
			}
			t := newTable(a.stdout, "ID", "TOTAL", "FREE", "DURATION", "MIN PRICE", "COLLATERAL LEFT", "ENABLED", "UNTIL")
			for _, av := range avs {
				t.row(av.ID.String(), size(av.TotalSize), size(av.FreeSize), duration(av.Duration),
					av.MinPricePerBytePerSecond.Dec(),
					av.TotalRemainingCollateral.Dec()+" of "+av.TotalCollateral.Dec(),
					yesNo(av.Enabled), unixTime(av.Until, "-"))
			}
			return t.flush()
		})
	})
	return cmd
}

func (a *app) availabilityGet() *cobra.Command {
	cmd := &cobra.Command{Use: "get ID", Aliases: []string{"show"}, Short: "Show one availability",
		Args: oneArg("availability ID")}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
		id, err := parseAvailabilityID(args[0])
		if err != nil {
			return err
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			av, err := c.Availability(ctx, id)
			if err != nil {
				return err
			}
			return a.printAvailability(av)
		})
	})
	return cmd
}

func (a *app) availabilityUpdate() *cobra.Command {
	var f availabilityFlags
	cmd := &cobra.Command{
		Use:   "update ID [--size SIZE] [--duration DURATION] [--min-price N] [--collateral N] [--until TIME] [--enabled|--disabled]",
		Short: "Change an availability: only the flags given are sent",
		Long: `Change an availability. Only the flags given are sent. --size sets the total
size (free size follows it); --collateral sets the collateral budget, and the
remaining collateral becomes the new budget less what running reservations hold.`,
		Example: "  salesctl availability update 0x… --size 20GiB --until 0",
		Args:    oneArg("availability ID"),
	}
	f.register(cmd.Flags(), true)
	cmd.MarkFlagsMutuallyExclusive("enabled", "disabled")
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id, err := parseAvailabilityID(args[0])
		if err != nil {
			return err
		}
		var req api.UpdateAvailabilityRequest
		set := cmd.Flags().Changed
		if set("size") {
			v := reservations.U64(f.size.v)
			req.TotalSize = &v
		}
		if set("duration") {
			v := reservations.U64(f.duration.v)
			req.Duration = &v
		}
		if set("min-price") {
			req.MinPricePerBytePerSecond = &reservations.U256{Int: f.minPrice.v}
		}
		if set("collateral") {
			req.TotalCollateral = &reservations.U256{Int: f.collateral.v}
		}
		if set("until") {
			v := reservations.I64(f.until.v)
			req.Until = &v
		}
		if set("enabled") || set("disabled") {
			v := (set("enabled") && f.enabled) || (set("disabled") && !f.disabled)
			req.Enabled = &v
		}
		if req == (api.UpdateAvailabilityRequest{}) {
			return usagef("nothing to update: give at least one of --size, --duration, --min-price, --collateral, --until, --enabled, --disabled")
		}
		return a.update(ctx, id, req)
	})
	return cmd
}

func (a *app) availabilityEnable(enable bool) *cobra.Command {
	use, short := "enable ID", "Let an availability take new sales again"
	if !enable {
		use, short = "disable ID", "Stop an availability taking new sales (running ones continue)"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: oneArg("availability ID")}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
		id, err := parseAvailabilityID(args[0])
		if err != nil {
			return err
		}
		return a.update(ctx, id, api.UpdateAvailabilityRequest{Enabled: &enable})
	})
	return cmd
}

// update sends the change, then shows the availability as it now is.
func (a *app) update(ctx context.Context, id reservations.AvailabilityID, req api.UpdateAvailabilityRequest) error {
	return a.call(ctx, func(ctx context.Context, c *api.Client) error {
		if err := c.UpdateAvailability(ctx, id, req); err != nil {
			return err
		}
		av, err := c.Availability(ctx, id)
		if err != nil {
			return fmt.Errorf("updated availability %s, but reading it back failed: %w", id, err)
		}
		return a.printAvailability(av)
	})
}

func (a *app) availabilityDelete() *cobra.Command {
	cmd := &cobra.Command{Use: "delete ID", Aliases: []string{"rm"},
		Short: "Delete an availability (refused while it has reservations)", Args: oneArg("availability ID")}
	cmd.RunE = a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
		id, err := parseAvailabilityID(args[0])
		if err != nil {
			return err
		}
		return a.call(ctx, func(ctx context.Context, c *api.Client) error {
			if err := c.DeleteAvailability(ctx, id); err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "deleted availability %s\n", id)
			}
			return nil
		})
	})
	return cmd
}

// printAvailability shows one availability: its JSON, or its fields.
func (a *app) printAvailability(av reservations.Availability) error {
	if a.json {
		return printJSON(a.stdout, av)
	}
	return fields(a.stdout,
		"id", av.ID.String(),
		"total size", size(av.TotalSize),
		"free size", size(av.FreeSize),
		"duration", duration(av.Duration),
		"min price", av.MinPricePerBytePerSecond.Dec()+" per byte per second",
		"collateral", av.TotalCollateral.Dec(),
		"collateral left", av.TotalRemainingCollateral.Dec(),
		"enabled", yesNo(av.Enabled),
		"until", unixTime(av.Until, "no limit"))
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
