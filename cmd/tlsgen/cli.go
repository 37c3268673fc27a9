package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/alecthomas/kong"
)

type cli struct {
	Render   renderCmd  `cmd:"" help:"Render the CA, certificates and kustomize overlay for an inventory."`
	Check    checkCmd   `cmd:"" help:"The CI gate: exit 1 when the overlay is not what render would write, or a certificate is due. Never writes."`
	Status   statusCmd  `cmd:"" help:"Every CA and certificate: its state, dates, names and who carries it. Needs no key."`
	RotateCA rotateCmd  `cmd:"" name:"rotate-ca" help:"Rotate the CA without an outage: start, render, switch, render, finish, render."`
	Verify   verifyCmd  `cmd:"" help:"Probe the live servers: TLS version, chain, name, expiry, and plaintext refused."`
	Version  versionCmd `cmd:"" help:"Print tlsgen's version."`
}

// common are the flags every command that reads an inventory takes.
type common struct {
	File string `short:"f" default:"inventory.yaml" placeholder:"FILE" help:"The inventory file."`
	At   atFlag `placeholder:"TIME" help:"Judge expiry and renewal as of this time (RFC 3339 or a date); default now."`
}

// atFlag is --at: a time, or now when not given.
type atFlag struct {
	time.Time
	set bool
}

func (a *atFlag) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("time", &s); err != nil {
		return err
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			a.Time, a.set = t, true
			return nil
		}
	}
	return fmt.Errorf("%q is not a time: write RFC 3339 (2026-11-26T10:00:00Z) or a date (2026-11-26)", s)
}

// judge is the time --at asks certificates to be judged at, or zero for
// now. It never dates a certificate: what tlsgen issues is valid from now.
func (a atFlag) judge() time.Time {
	if a.set {
		return a.Time
	}
	return time.Time{}
}

// now is --at, or the clock.
func (a atFlag) now() time.Time {
	if a.set {
		return a.Time
	}
	return time.Now()
}

type versionCmd struct{}

func (versionCmd) Run(u *ui) error {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	u.line("tlsgen " + v)
	return nil
}

// run is the whole program: the arguments in, the exit status out.
func run(args []string, stdout, stderr io.Writer) int {
	u := &ui{stdout: stdout, stderr: stderr}
	var c cli
	exited := -1
	parser, err := kong.New(&c,
		kong.Name("tlsgen"),
		kong.Description("TLS for a namespace of PostgreSQL databases and a Redis, as a kustomize overlay."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exited = code }),
	)
	if err != nil {
		return u.fail(err)
	}
	ctx, err := parser.Parse(args)
	if exited >= 0 { // --help
		return exited
	}
	if err != nil {
		var pe *kong.ParseError
		if errors.As(err, &pe) {
			u.say("error: %s", err)
			u.hint("tlsgen --help lists the commands and flags")
			return exitInvalid
		}
		return u.fail(err)
	}
	if err := ctx.Run(u); err != nil {
		return u.fail(err)
	}
	return exitOK
}
