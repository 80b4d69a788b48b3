package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
)

// printJSON writes v as indented JSON (the API's field names and number
// forms), one value per command.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table writes aligned columns: a header row, then one row per call to
// row. flush writes it out, without trailing blanks.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	t.row(header...)
	return t
}

// row adds a row; tabs and newlines in a cell become spaces.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range strings.Lines(t.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	_, err := t.w.Write(out.Bytes())
	return err
}

// fields writes "name:  value" lines, aligned.
func fields(w io.Writer, kv ...string) error {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		t.row(kv[i]+":", kv[i+1])
	}
	return t.flush()
}

// size prints bytes in binary units: exactly when they are a whole
// number of the unit ("10 GiB", "512 B"), else rounded with the exact
// count ("1.5 KiB (1536)").
func size(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u, q := 0, n
	for q >= 1024 && q%1024 == 0 {
		q /= 1024
		u++
	}
	if q < 1024 {
		return fmt.Sprintf("%d %s", q, units[u])
	}
	return fmt.Sprintf("%s (%d)", humanize.IBytes(n), n)
}

// duration prints seconds in the units parseDuration reads ("30d",
// "1d12h", "90s").
func duration(sec uint64) string {
	if sec == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		n    uint64
	}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}} {
		if q := sec / u.n; q > 0 {
			b.WriteString(strconv.FormatUint(q, 10) + u.unit)
			sec -= q * u.n
		}
	}
	return b.String()
}

// unixTime prints unix seconds as RFC 3339 in UTC; zero as zero text.
func unixTime(t int64, zero string) string {
	if t == 0 {
		return zero
	}
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
