package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/celeroot/celeroot/audit"
)

// AuditCmd groups the audit trail's commands.
type AuditCmd struct {
	Logs   AuditLogsCmd   `cmd:"" help:"Show administrative actions, oldest first."`
	Verify AuditVerifyCmd `cmd:"" help:"Check the hash chain, the local mirror and the signed checkpoint (exit 1 naming the first bad record)."`
	Export AuditExportCmd `cmd:"" help:"Export records as JSON lines or CSV."`
}

// AuditLogsCmd is `cl audit logs`.
type AuditLogsCmd struct{ auditFilter }

// Run prints the selected records as a table, or JSON with -o json.
func (c *AuditLogsCmd) Run(a *App) error {
	recs, err := selectRecords(a, c.auditFilter)
	if err != nil {
		return err
	}
	if a.JSON() {
		if recs == nil {
			recs = []audit.Record{}
		}
		return a.PrintJSON(recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(a.Stdout, "no audit records match")
		return nil
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGETS\tSHA\tRESULT")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format(time.DateTime), r.Actor,
			r.Action, strings.Join(r.Targets, " "), short(r.SHA), r.Result)
	}
	return tw.Flush()
}

// AuditExportCmd is `cl audit export`.
type AuditExportCmd struct {
	auditFilter
	Format string `enum:"jsonl,csv" default:"jsonl" help:"jsonl (one record per line, as stored) or csv (formula-like fields prefixed with ')."`
}

// Run writes the selected records to stdout.
func (c *AuditExportCmd) Run(a *App) error {
	recs, err := selectRecords(a, c.auditFilter)
	if err != nil {
		return err
	}
	if c.Format == "csv" {
		return audit.WriteCSV(a.Stdout, recs)
	}
	return audit.WriteJSONL(a.Stdout, recs)
}

// AuditVerifyCmd is `cl audit verify`.
type AuditVerifyCmd struct{}

// Run verifies the trail: exit 0 intact, 1 naming the first bad record.
func (AuditVerifyCmd) Run(a *App) error {
	t, done, err := openTrail(a)
	if err != nil {
		return err
	}
	defer done()
	rep, err := t.Verify(a.Ctx)
	if err != nil {
		return err
	}
	if a.JSON() {
		if err := a.PrintJSON(rep); err != nil {
			return err
		}
	} else {
		for _, n := range rep.Notes {
			fmt.Fprintf(a.Stderr, "note: %s\n", n)
		}
		if rep.OK() {
			fmt.Fprintf(a.Stdout, "audit trail intact: %d records, head %s", rep.Records, short(rep.Head))
			if rep.Checkpoint != nil {
				fmt.Fprintf(a.Stdout, ", signed checkpoint at record %d (%s)", rep.Checkpoint.Seq, rep.Checkpoint.Time.Format(time.RFC3339))
			}
			fmt.Fprintln(a.Stdout)
		}
	}
	if p := rep.First(); p != nil {
		if p.Seq > 0 {
			return fmt.Errorf("audit trail tampered: first bad record %d: %s", p.Seq, p.Message)
		}
		return fmt.Errorf("audit trail tampered: %s", p.Message)
	}
	return nil
}
