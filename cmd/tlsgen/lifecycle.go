package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bakery-ia/tlsgen/internal/store"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
)

// rotateCmd is `tlsgen rotate-ca start|switch|finish`: each phase changes
// the PKI directory only; the render after it writes what the cluster
// needs, and is rolled out before the next phase.
type rotateCmd struct {
	Phase string `arg:"" enum:"start,switch,finish" help:"start: create the next CA, trusted beside the current one; switch: sign with it; finish: drop the old CA."`
	File  string `short:"f" default:"inventory.yaml" placeholder:"FILE" help:"The inventory file."`
	PKI   string `name:"pki" placeholder:"DIR" help:"The PKI directory; default pki.dir of the inventory."`
}

// nextSteps says, after each phase, what to do before the next one.
var nextSteps = map[string]string{
	"start":  "run tlsgen render and roll it out; once every client has the bundle that trusts both CAs (a ConfigMap volume updates within about a minute, a subPath mount or an environment variable only when the pod restarts), run tlsgen rotate-ca switch",
	"switch": "run tlsgen render (it re-issues every certificate from the new CA) and roll it out; once every server runs its new certificate, run tlsgen rotate-ca finish",
	"finish": "run tlsgen render: the bundles trust the new CA alone",
}

func (c *rotateCmd) Run(u *ui) error {
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(p.pkiDir, filepath.FromSlash(pki.CACertFile))); err != nil {
		return invalid("tlsgen render creates the CA; pass --pki DIR when the PKI directory is elsewhere", "%s: no CA to rotate", filepath.Join(p.pkiDir, filepath.FromSlash(pki.CACertFile)))
	}
	unlock, _, err := lockDir(p.pkiDir, "the PKI directory", 0o700)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := store.RecoverPKI(writeFS, p.pkiDir); err != nil {
		return writeError("the PKI directory", p.pkiDir, err)
	}
	opts, err := pkiOptions(p.inv, &keyring{})
	if err != nil {
		return err
	}
	fsys := os.DirFS(p.pkiDir)
	ca, reqs := render.Requests(p.inv)
	var files []pki.File
	switch c.Phase {
	case "start":
		files, err = opts.RotateStart(fsys, ca, time.Now())
	case "switch":
		files, err = opts.RotateSwitch(fsys)
	case "finish":
		files, err = opts.RotateFinish(fsys, reqs)
	}
	if err != nil {
		return pkiError(p.pkiDir, err)
	}
	if err := store.CommitPKI(writeFS, p.pkiDir, pkiFiles(files)); err != nil {
		return writeError("the PKI directory", p.pkiDir, err)
	}
	u.say("rotate-ca %s: done", c.Phase)
	u.hint(nextSteps[c.Phase])
	return nil
}

// statusCmd is `tlsgen status`: every CA and certificate, its state and
// dates, from public material only.
type statusCmd struct {
	common
	PKI  string `name:"pki" placeholder:"DIR" help:"The PKI directory; default pki.dir of the inventory."`
	JSON bool   `name:"json" help:"Print one JSON document, for scripts and monitoring."`
}

// The states of a certificate, as status reports them.
const (
	stateOK          = "ok"
	stateStale       = "stale"
	stateDue         = string(pki.WhyDue)
	stateExpired     = string(pki.WhyExpired)
	stateNotYetValid = string(pki.WhyNotYetValid)
	stateMissing     = string(pki.WhyMissing) // the others a render would issue for are pki.Why's
)

// certStatus is one row of status, and one element of its JSON.
type certStatus struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	KeyType     string    `json:"keyType,omitempty"`
	DNSNames    []string  `json:"dnsNames"`
	NotBefore   time.Time `json:"notBefore,omitzero"`
	NotAfter    time.Time `json:"notAfter,omitzero"`
	RenewAt     time.Time `json:"renewAt,omitzero"`
	DaysLeft    *int      `json:"daysLeft,omitempty"`
	Secret      string    `json:"secret,omitempty"`
	Deployments []string  `json:"deployments"`
}

// statusReport is what status prints.
type statusReport struct {
	Certificates []certStatus `json:"certificates"`
	// Rotation is the CA rotation's phase: "", "started" or "switched".
	Rotation string `json:"rotation"`
}

func (c *statusCmd) Run(u *ui) error {
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	at := c.At.now()
	r, err := inspect(p, at)
	if err != nil {
		return err
	}
	if c.JSON {
		return u.json(r)
	}
	u.status(r, at)
	return nil
}

// inspect reads the PKI directory, issuing nothing, and judges every
// certificate at at. It opens no key: no identity is needed.
func inspect(p *project, at time.Time) (*statusReport, error) {
	ca, reqs := render.Requests(p.inv)
	fsys := os.DirFS(p.pkiDir)
	state, err := pki.Options{At: at, DryRun: true}.Reconcile(fsys, ca, reqs, time.Now())
	if err != nil {
		return nil, pkiError(p.pkiDir, err)
	}
	r := &statusReport{Rotation: string(state.Phase)}
	caRow := func(name string, c *x509.Certificate) certStatus {
		row := certStatus{Name: name, Kind: "ca", State: stateMissing, DNSNames: []string{}, Deployments: []string{}}
		if c == nil {
			return row
		}
		row.fill(c, at)
		row.RenewAt = pki.CARenewalTime(c)
		switch {
		case !c.NotAfter.After(at):
			row.State = stateExpired
		case c.NotBefore.After(at):
			row.State = stateNotYetValid
		case !at.Before(row.RenewAt):
			row.State, row.Reason = stateDue, "in its last year: rotate it (tlsgen rotate-ca start)"
		default:
			row.State = stateOK
		}
		return row
	}
	r.Certificates = append(r.Certificates, caRow("ca", state.CA))
	if state.Next != nil {
		r.Certificates = append(r.Certificates, caRow("ca-next", state.Next))
	}
	due := map[string]pki.Renewal{}
	for _, d := range state.Due {
		due[d.Name] = d
	}
	carriers := map[string][]model.Server{}
	for _, s := range p.inv.Servers() {
		carriers[s.Cert] = append(carriers[s.Cert], s)
	}
	// A client certificate is shipped in its client's Secret, the probe's
	// in the Redis's.
	type carrier struct{ secret, deployment string }
	clients := map[string]carrier{}
	for _, c := range p.inv.Clients {
		if cc, ok := p.inv.ClientCertOf(c); ok {
			clients[cc.Name] = carrier{model.ClientSecretName(c.Name), c.Name}
		}
	}
	if cc, ok := p.inv.RedisProbeCert(); ok {
		clients[cc.Name] = carrier{p.inv.Redis.SecretName, p.inv.Redis.Name}
	}
	for _, req := range reqs {
		row := certStatus{Name: req.Name, Kind: "server", State: stateOK, DNSNames: []string{}, Deployments: []string{}}
		for _, s := range carriers[req.Name] {
			row.Secret = s.SecretName
			row.Deployments = append(row.Deployments, s.Name)
		}
		if req.Usage == pki.ClientAuth {
			row.Kind, row.Secret, row.Deployments = "client", clients[req.Name].secret, []string{clients[req.Name].deployment}
		}
		if c := state.Certs[req.Name]; c != nil {
			row.fill(c.Cert, at)
			row.RenewAt = pki.RenewalTime(c.Cert.NotBefore, c.Cert.NotAfter, req.RenewBefore)
		}
		if d, ok := due[req.Name]; ok {
			row.State, row.Reason = string(d.Why), d.Reason
		}
		r.Certificates = append(r.Certificates, row)
	}
	stale, _, err := pki.Stale(fsys, reqs)
	if err != nil {
		return nil, pkiError(p.pkiDir, err)
	}
	for _, name := range stale {
		kind := "server"
		if strings.HasPrefix(name, "clients/") || name == "redis/probe" {
			kind = "client"
		}
		row := certStatus{Name: name, Kind: kind, State: stateStale, Reason: "not in the inventory; tlsgen render --prune removes it", DNSNames: []string{}, Deployments: []string{}}
		if certs := storedCerts(p.pkiDir, name); len(certs) > 0 {
			row.fill(certs[0], at)
		}
		r.Certificates = append(r.Certificates, row)
	}
	return r, nil
}

// fill sets what a certificate says of itself.
func (row *certStatus) fill(c *x509.Certificate, at time.Time) {
	row.KeyType = string(pki.KeyTypeOf(c.PublicKey))
	row.DNSNames = slices.Clone(c.DNSNames)
	if row.DNSNames == nil {
		row.DNSNames = []string{}
	}
	row.NotBefore, row.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	days := int(c.NotAfter.Sub(at) / pki.Day)
	row.DaysLeft = &days
}

// storedCerts reads the certificates of a certificate directory of the PKI.
func storedCerts(pkiDir, name string) []*x509.Certificate {
	entries, _ := os.ReadDir(filepath.Join(pkiDir, filepath.FromSlash(name)))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-cert.pem") && e.Name() != model.CAFile {
			data, err := os.ReadFile(filepath.Join(pkiDir, filepath.FromSlash(name), e.Name()))
			if err == nil {
				if certs, err := pki.ParseCerts(data); err == nil {
					return certs
				}
			}
		}
	}
	return nil
}

// checkCmd is `tlsgen check`, the CI gate: exit 0 when the overlay is what
// render would write and nothing is due, 1 with one line per reason. It
// never writes, generates no key, and opens no key.
type checkCmd struct {
	common
	Out string `short:"o" required:"" placeholder:"DIR" help:"The overlay to check, as render -o writes it."`
	PKI string `name:"pki" placeholder:"DIR" help:"The PKI directory; default pki.dir of the inventory."`
}

// checkFailed is a check that found something to fix: exit 1.
type checkFailed struct{ n int }

func (e *checkFailed) Error() string {
	return fmt.Sprintf("%d thing(s) to fix: run tlsgen render and commit what it writes", e.n)
}

func (c *checkCmd) Run(u *ui) error {
	p, err := load(c.File, c.PKI)
	if err != nil {
		return err
	}
	out, err := p.outDir(c.Out)
	if err != nil {
		return err
	}
	containers, _, err := p.containers()
	if err != nil {
		return err
	}
	at := c.At.now()
	ca, reqs := render.Requests(p.inv)
	state, err := pki.Options{At: at, DryRun: true}.Reconcile(os.DirFS(p.pkiDir), ca, reqs, time.Now())
	if err != nil {
		return pkiError(p.pkiDir, err)
	}
	var reasons []string
	for _, d := range state.Due {
		line := fmt.Sprintf("due: %s: %s", d.Name, d.Reason)
		if !d.RenewAt.IsZero() {
			line = fmt.Sprintf("due: %s renews on %s (%s)", d.Name, d.RenewAt.UTC().Format(time.DateOnly), d.Reason)
		}
		reasons = append(reasons, line)
	}
	if state.CA != nil && !at.Before(pki.CARenewalTime(state.CA)) && state.Phase == pki.PhaseNone {
		reasons = append(reasons, fmt.Sprintf("due: ca expires on %s: rotate it (tlsgen rotate-ca start)", state.CA.NotAfter.UTC().Format(time.DateOnly)))
	}
	stale, _, err := pki.Stale(os.DirFS(p.pkiDir), reqs)
	if err != nil {
		return pkiError(p.pkiDir, err)
	}
	for _, name := range stale {
		reasons = append(reasons, fmt.Sprintf("stale: %s: not in the inventory (tlsgen render --prune removes it)", name))
	}
	if state.CA == nil || len(state.Certs) < len(reqs) {
		reasons = append(reasons, "missing: the PKI directory lacks certificates, so the overlay was not compared (tlsgen render issues them)")
	} else {
		tree, err := p.renderTree(out, state, containers)
		if err != nil {
			return err
		}
		drift, err := compareTree(out, tree, p.inv)
		if err != nil {
			return err
		}
		reasons = append(reasons, drift...)
	}
	for _, r := range reasons {
		u.line(r)
	}
	if len(reasons) > 0 {
		return &checkFailed{n: len(reasons)}
	}
	return nil
}

// compareTree lists how the overlay in out differs from tree. An encrypted
// Secret is judged by its readable part and recipients, as render judges
// whether to keep it: no identity is needed.
func compareTree(out string, tree render.Tree, inv *model.Inventory) ([]string, error) {
	have, err := store.ReadTree(out)
	if err != nil {
		return nil, err
	}
	var reasons []string
	want := map[string]bool{}
	for i := range tree {
		f := &tree[i]
		want[f.Path] = true
		data, ok := have[f.Path]
		switch {
		case !ok:
			reasons = append(reasons, "missing: "+f.Path)
		case f.Private && inv.Encryption != nil:
			if !unchanged(data, f, inv.Encryption.Age, &keyring{}) {
				reasons = append(reasons, fmt.Sprintf("drift: %s differs", f.Path))
			}
		case string(data) != string(f.Data):
			reasons = append(reasons, fmt.Sprintf("drift: %s differs", f.Path))
		}
	}
	var extra []string
	for p := range have {
		if !want[p] {
			extra = append(extra, p)
		}
	}
	slices.Sort(extra)
	for _, p := range extra {
		reasons = append(reasons, fmt.Sprintf("drift: %s is not rendered any more", p))
	}
	return reasons, nil
}
