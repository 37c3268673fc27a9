package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/verify"
)

type verifyCmd struct {
	common
	PKI         string        `name:"pki" placeholder:"DIR" help:"The PKI directory whose CA the servers must chain to; default pki.dir of the inventory."`
	Target      []string      `name:"target" sep:"none" placeholder:"NAME=HOST:PORT" help:"Check only NAME (a database or the Redis), dialled at HOST:PORT, e.g. through kubectl port-forward; repeat for more. Without it, every server at its Service name."`
	Timeout     time.Duration `default:"5s" help:"How long each connection may take."`
	Client      string        `name:"client" placeholder:"NAME" help:"Probe as the client NAME: its servers only, presenting its certificate, and check that each takes it and requires one when the inventory says so."`
	AgeIdentity string        `name:"age-identity" placeholder:"FILE" help:"The age identity that decrypts a sealed client key, when encryption.age is set; default $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY."`
}

// checksFailed is a probe that ran and found something wrong: exit 1.
type checksFailed struct {
	failed []verify.Result
	total  int
}

func (e *checksFailed) Error() string {
	lines := []string{fmt.Sprintf("%d of %d checks failed", len(e.failed), e.total)}
	for _, r := range e.failed {
		lines = append(lines, r.Target+": "+r.Detail)
	}
	return strings.Join(lines, "\n")
}

// Run probes the servers, prints one line per check and fails when any
// check does.
func (c *verifyCmd) Run(u *ui) error {
	if c.Timeout <= 0 {
		return invalid("", "--timeout %s: must be positive", c.Timeout)
	}
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	inv, pkiDir := p.inv, p.pkiDir
	caFile := filepath.Join(pkiDir, filepath.FromSlash(pki.CACertFile))
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return invalid("tlsgen render creates the CA; pass --pki DIR when the PKI directory is elsewhere", "%s: no CA certificate", caFile)
		}
		return &inputError{err: err}
	}
	cas, err := pki.ParseCerts(caPEM)
	if err != nil {
		return &inputError{err: fmt.Errorf("%s: %w", caFile, err)}
	}
	// During a CA rotation the servers may present the next CA's
	// certificates: the bundles trust both, and so does verify.
	nextFile := filepath.Join(pkiDir, filepath.FromSlash(pki.NextCACertFile))
	if nextPEM, err := os.ReadFile(nextFile); err == nil {
		next, err := pki.ParseCerts(nextPEM)
		if err != nil {
			return &inputError{err: fmt.Errorf("%s: %w", nextFile, err)}
		}
		cas = append(cas, next...)
	}

	targets, err := selectTargets(inv, c.Target, c.Client)
	if err != nil {
		return err
	}
	if err := presentCertificates(p, targets, c.Client, &keyring{file: c.AgeIdentity}); err != nil {
		return err
	}
	results := verify.Run(context.Background(), targets, verify.Options{
		CAs:         cas,
		MinVersion:  verify.MinVersion(inv.TLS.Profile),
		RenewBefore: inv.PKI.Server.RenewBefore.Value,
		Now:         c.At.now(),
		Timeout:     c.Timeout,
	})
	u.checks(results)
	if failed := verify.Failed(results); len(failed) > 0 {
		return &checksFailed{failed: failed, total: len(results)}
	}
	return nil
}

// selectTargets returns every target of the inventory, or those --target
// names, dialled where it says. With a client, the targets are its
// servers.
func selectTargets(inv *model.Inventory, flags []string, client string) ([]verify.Target, error) {
	all := verify.Targets(inv)
	notOne := "is not a database or the Redis of the inventory"
	if client != "" {
		cl, ok := inv.Client(client)
		if !ok {
			var names []string
			for _, c := range inv.Clients {
				names = append(names, c.Name)
			}
			if len(names) == 0 {
				return nil, invalid("list it under clients: in the inventory", "--client %q: the inventory lists no clients", client)
			}
			return nil, invalid("", "--client %q: not a client of the inventory (expected one of %s)", client, strings.Join(names, ", "))
		}
		all = slices.DeleteFunc(all, func(t verify.Target) bool {
			return !(t.Kind == verify.Postgres && slices.Contains(cl.Postgres, t.Name)) && !(t.Kind == verify.Redis && cl.Redis)
		})
		notOne = "is not a server " + client + " connects to"
	}
	if len(flags) == 0 {
		return all, nil
	}
	var names []string
	for _, t := range all {
		names = append(names, t.Name)
	}
	var out []verify.Target
	for _, f := range flags {
		name, addr, ok := strings.Cut(f, "=")
		host, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
			err = fmt.Errorf("port %q", port)
		}
		if !ok || name == "" || err != nil || host == "" {
			return nil, invalid("write --target auth-db=127.0.0.1:15432", "--target %q: expected NAME=HOST:PORT with a port from 1 to 65535", f)
		}
		i := slices.Index(names, name)
		if i < 0 {
			return nil, invalid("", "--target %q: %q %s (expected one of %s)", f, name, notOne, strings.Join(names, ", "))
		}
		if slices.ContainsFunc(out, func(t verify.Target) bool { return t.Name == name }) {
			return nil, invalid("", "--target %q: %s is given twice", f, name)
		}
		t := all[i]
		t.Addr = addr
		out = append(out, t)
	}
	return out, nil
}

// presentCertificates gives the targets the certificates they present:
// with a client, its own to each server that asks it for one, and the
// client checks; without, the Redis probe's when Redis requires client
// certificates, so that the checks of a server get past its handshake.
// The pairs are read from the PKI directory, a sealed key opened with the
// age identity.
func presentCertificates(p *project, targets []verify.Target, client string, keys *keyring) error {
	inv := p.inv
	opts := pki.Options{Open: keys.open}
	fsys := os.DirFS(p.pkiDir)
	read := func(cc model.ClientCert, what string) (*tls.Certificate, error) {
		certPEM, keyPEM, err := opts.ReadPair(fsys, cc.CertFile, cc.KeyFile, what)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("tlsgen render issues it", "%s: no certificate for %s", filepath.Join(p.pkiDir, filepath.FromSlash(cc.CertFile)), cc.Name)
		}
		if err != nil {
			return nil, lockedError(p.pkiDir, pkiError(p.pkiDir, err))
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &inputError{err: fmt.Errorf("%s: %w", filepath.Join(p.pkiDir, filepath.FromSlash(cc.CertFile)), err)}
		}
		return &cert, nil
	}
	if client == "" {
		probe, ok := inv.RedisProbeCert()
		if !ok {
			return nil
		}
		for i := range targets {
			if targets[i].Kind == verify.Redis {
				cert, err := read(probe, "presenting the Redis probe's certificate, which Redis requires")
				if err != nil {
					return err
				}
				targets[i].Certificate = cert
			}
		}
		return nil
	}
	cl, _ := inv.Client(client)
	var cert *tls.Certificate
	if cc, ok := inv.ClientCertOf(cl); ok {
		var err error
		if cert, err = read(cc, "presenting "+client+"'s certificate"); err != nil {
			return err
		}
	}
	for i := range targets {
		t := &targets[i]
		c := &verify.Client{Name: client, User: cl.User}
		if t.Kind == verify.Postgres {
			a := inv.PostgresClientAuth()
			c.Required, c.Setting = a != model.PostgresClientAuthNone, "postgres.clientAuth is "+string(a)
		} else {
			c.Required, c.Setting = inv.RedisRequiresCerts(), "redis.clientAuth is "+string(inv.Redis.ClientAuth)
		}
		if c.Required { // as the rendered environment gives it to the drivers
			c.Certificate, t.Certificate = cert, cert
		}
		t.Client = c
	}
	return nil
}
