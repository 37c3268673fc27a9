package main

// This is the only file that prints. Every line on stderr starts with
// "tlsgen: ". Problems carry one of three prefixes: "error:", "warning:"
// or "hint:"; what the PKI did is said as "tlsgen: issued NAME: reason".
// Typed errors choose the exit status: 0 done, 1 failed, 2 invalid input.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/verify"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

type ui struct {
	stdout, stderr io.Writer
}

func (u *ui) say(format string, args ...any) {
	fmt.Fprintf(u.stderr, "tlsgen: "+format+"\n", args...)
}

func (u *ui) warn(msg string) { u.say("warning: %s", msg) }

// manifests prints the built overlay on stdout.
func (u *ui) manifests(yaml []byte) error {
	_, err := u.stdout.Write(yaml)
	return err
}

// json prints v as one indented JSON document on stdout.
func (u *ui) json(v any) error {
	enc := json.NewEncoder(u.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// status prints one row per certificate, in aligned columns, and the
// rotation's phase.
func (u *ui) status(r *statusReport, at time.Time) {
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tKIND\tSTATE\tKEY\tNOT AFTER\tDAYS\tRENEW ON\tSECRET\tDEPLOYMENTS\tDNS NAMES")
	date := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.DateOnly)
	}
	for _, c := range r.Certificates {
		days := "-"
		if c.DaysLeft != nil {
			days = fmt.Sprint(*c.DaysLeft)
		}
		names := strings.Join(c.DNSNames, ",")
		if len(c.DNSNames) > 3 {
			names = strings.Join(c.DNSNames[:3], ",") + fmt.Sprintf(" and %d more", len(c.DNSNames)-3)
		}
		deps := strings.Join(c.Deployments, ",")
		if len(c.Deployments) > 3 {
			deps = strings.Join(c.Deployments[:3], ",") + fmt.Sprintf(" and %d more", len(c.Deployments)-3)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Kind, c.State, orDash(c.KeyType), date(c.NotAfter), days, date(c.RenewAt), orDash(c.Secret), orDash(deps), orDash(names))
	}
	w.Flush()
	for _, c := range r.Certificates {
		if c.Reason != "" {
			fmt.Fprintf(u.stdout, "%s: %s: %s\n", c.Name, c.State, c.Reason)
		}
	}
	phase := "none"
	if r.Rotation != "" {
		phase = r.Rotation
	}
	fmt.Fprintf(u.stdout, "CA rotation: %s (judged at %s)\n", phase, at.UTC().Format(time.RFC3339))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// line prints one line of output on stdout.
func (u *ui) line(s string)   { fmt.Fprintln(u.stdout, s) }
func (u *ui) hint(msg string) { u.say("hint: %s", msg) }

// checks prints the probe's results on stdout, one line per check: target,
// check, result, detail, in aligned columns.
func (u *ui) checks(rs []verify.Result) {
	w := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	for _, r := range rs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Target, r.Check, r.Status, r.Detail)
	}
	w.Flush()
}

// inputError is bad input: flags, the inventory, the base, PKI files or the
// output directory. It exits 2; a hint, when there is one, follows it.
type inputError struct {
	err  error
	hint string
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func invalid(hint string, format string, args ...any) error {
	return &inputError{err: fmt.Errorf(format, args...), hint: hint}
}

// fail reports err and returns the exit status it calls for. An inventory
// error has one line per problem.
func (u *ui) fail(err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		u.say("error: %s", line)
	}
	var ie *inputError
	if errors.As(err, &ie) && ie.hint != "" {
		u.hint(ie.hint)
	}
	var me *model.Error
	var fe *pki.FileError
	var pe *pki.PhaseError
	if errors.As(err, &ie) || errors.As(err, &me) || errors.As(err, &fe) || errors.As(err, &pe) {
		return exitInvalid
	}
	return exitFailed
}
