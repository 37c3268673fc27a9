// Package verify probes live PostgreSQL and Redis servers for the TLS that
// tlsgen rendered: that they speak TLS at or above the inventory's minimum
// version, present a certificate that chains to the CA and covers the
// Service's name and is outside its renewal window, and refuse plaintext;
// for a client, that the server takes its certificate, and requires one
// when the inventory says so.
//
// It dials the network but prints nothing and reads no clock for its
// verdicts: the CA, the targets, the minimum version, the renewal window
// and the time to judge certificates at are all inputs. Deadlines on the
// wire use the real clock.
package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// Kind is the protocol a target speaks.
type Kind string

// The kinds of target: the inventory's kinds of server.
const (
	Postgres = Kind(model.PostgresKind)
	Redis    = Kind(model.RedisKind)
)

// The checks, in the order they are run and reported.
const (
	CheckConnect    = "connect"
	CheckSSLRequest = "ssl-request"
	CheckHandshake  = "tls-handshake"
	CheckVersion    = "tls-version"
	CheckChain      = "chain"
	CheckHostname   = "hostname"
	CheckExpiry     = "expiry"
	CheckPlaintext  = "plaintext"
)

func (k Kind) server() string {
	if k == Postgres {
		return "PostgreSQL"
	}
	return "Redis"
}

// Target is one server to probe.
type Target struct {
	// Name is the inventory's name for it: the database's Deployment
	// ("auth-db") or the Redis's ("redis").
	Name string
	Kind Kind
	// ServerName is the name the certificate must cover: the Service's
	// fully qualified name, whatever address is dialled (so a probe through
	// kubectl port-forward still checks the name clients use).
	ServerName string
	// Addr is host:port to dial.
	Addr string
	// Certificate, when set, is presented in every handshake: the Redis
	// probe's when Redis requires client certificates, or a client's.
	Certificate *tls.Certificate
	// Client, when set, adds the checks of tlsgen verify --client.
	Client *Client
}

// Targets lists the servers of inv, dialled at their in-cluster Service
// names, databases first in the inventory's order.
func Targets(inv *model.Inventory) []Target {
	var ts []Target
	for _, s := range inv.Servers() {
		ts = append(ts, Target{Name: s.Name, Kind: Kind(s.Kind), ServerName: s.FQDN, Addr: net.JoinHostPort(s.FQDN, s.Port)})
	}
	return ts
}

// MinVersion is the lowest TLS version a profile allows, as a crypto/tls
// constant.
func MinVersion(p model.Profile) uint16 {
	if p.Minimum() == "TLSv1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// Options are what the checks are judged against.
type Options struct {
	// CAs are the CA certificates to trust: the PKI directory's
	// ca/ca-cert.pem, and ca-next/ca-cert.pem during a CA rotation.
	CAs []*x509.Certificate
	// MinVersion is the lowest TLS version the server may accept.
	MinVersion uint16
	// RenewBefore is the renewal window: a certificate that expires
	// within it fails.
	RenewBefore time.Duration
	// Now is the time certificates are judged at.
	Now time.Time
	// Timeout bounds each connection: dial and exchange.
	Timeout time.Duration
	// Dial opens connections; nil is a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Status is the outcome of one check.
type Status string

// The outcomes.
const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	// Skip is a check that could not run because an earlier one failed.
	Skip Status = "skip"
)

// Result is the outcome of one check of one target.
type Result struct {
	Target string
	Check  string
	Status Status
	Detail string
}

// Run probes the targets concurrently and returns the results in the order
// of targets, each target's checks in the order they run.
func Run(ctx context.Context, targets []Target, opts Options) []Result {
	out := make([][]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out[i] = Probe(ctx, t, opts) })
	}
	wg.Wait()
	var all []Result
	for _, rs := range out {
		all = append(all, rs...)
	}
	return all
}

// Failed returns the results that failed.
func Failed(rs []Result) []Result {
	var f []Result
	for _, r := range rs {
		if r.Status == Fail {
			f = append(f, r)
		}
	}
	return f
}

// Probe runs every check against one target.
func Probe(ctx context.Context, t Target, opts Options) []Result {
	p := &prober{t: t, opts: opts}
	if p.opts.Timeout <= 0 {
		p.opts.Timeout = 5 * time.Second
	}
	if p.opts.Dial == nil {
		d := &net.Dialer{}
		p.opts.Dial = d.DialContext
	}
	p.run(ctx)
	return p.results
}

type prober struct {
	t       Target
	opts    Options
	results []Result
}

func (p *prober) add(check string, s Status, format string, args ...any) {
	p.results = append(p.results, Result{Target: p.t.Name, Check: check, Status: s, Detail: fmt.Sprintf(format, args...)})
}

func (p *prober) run(ctx context.Context) {
	conn, err := p.dial(ctx)
	if err != nil {
		p.add(CheckConnect, Fail, "%v (expected a %s server at %s)", err, p.t.Kind.server(), p.t.Addr)
		for _, c := range p.checks()[1:] {
			p.add(c, Skip, "not connected")
		}
		return
	}
	p.add(CheckConnect, OK, "%s", p.t.Addr)

	state, err := p.handshake(conn, 0)
	conn.Close()
	if err == nil {
		p.add(CheckHandshake, OK, "%s %s", versionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
		p.version(ctx, state)
		p.certificate(state)
	} else {
		if errors.Is(err, errSSLRequest) {
			p.add(CheckHandshake, Skip, "no SSLRequest answer")
		} else {
			p.add(CheckHandshake, Fail, "%v (expected a TLS server for %s)", err, p.t.ServerName)
		}
		for _, c := range []string{CheckVersion, CheckChain, CheckHostname, CheckExpiry} {
			p.add(c, Skip, "no TLS handshake")
		}
	}
	p.plaintext(ctx)
	if p.t.Client != nil {
		p.clientChecks(ctx)
	}
}

// checks lists the checks this target's kind runs.
func (p *prober) checks() []string {
	cs := []string{CheckConnect}
	if p.t.Kind == Postgres {
		cs = append(cs, CheckSSLRequest)
	}
	cs = append(cs, CheckHandshake, CheckVersion, CheckChain, CheckHostname, CheckExpiry, CheckPlaintext)
	if p.t.Client != nil {
		cs = append(cs, CheckClientCert, CheckClientRequired)
	}
	return cs
}

func (p *prober) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	conn, err := p.opts.Dial(ctx, "tcp", p.t.Addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(p.opts.Timeout))
	return conn, nil
}

// errSSLRequest is a PostgreSQL server that did not answer the SSLRequest
// with S; the ssl-request check has said why.
var errSSLRequest = errors.New("no TLS offered in answer to the SSLRequest")

// handshake runs the TLS handshake on conn, after the SSLRequest for
// PostgreSQL. maxVersion, when not 0, caps the versions offered. The
// certificate is not verified here: the chain and the name are separate
// checks, so that each can fail on its own and say why.
func (p *prober) handshake(conn net.Conn, maxVersion uint16) (tls.ConnectionState, error) {
	if p.t.Kind == Postgres {
		ok, err := sslRequest(conn)
		if maxVersion == 0 { // the first handshake reports the SSLRequest
			switch {
			case err != nil:
				p.add(CheckSSLRequest, Fail, "%v (expected S: the server accepts TLS)", err)
			case !ok:
				p.add(CheckSSLRequest, Fail, "server answered N: ssl is off (expected S: ssl = on in postgresql.conf)")
			default:
				p.add(CheckSSLRequest, OK, "server answered S")
			}
		}
		if err != nil || !ok {
			return tls.ConnectionState{}, fmt.Errorf("%w: %v", errSSLRequest, err)
		}
	}
	cfg := &tls.Config{
		ServerName:         p.t.ServerName, // SNI, as libpq (sslsni=1) and redis-cli send it
		InsecureSkipVerify: true,           // verified below, check by check
		MinVersion:         tls.VersionTLS12,
	}
	presentAlways(cfg, p.t.Certificate)
	if maxVersion != 0 {
		cfg.MaxVersion = maxVersion
		if maxVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS10
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

// version checks the negotiated version against the minimum, then offers
// the server only versions below the minimum, which it must refuse: a
// server negotiates the highest version both sides have, so the first
// handshake alone cannot show that ssl_min_protocol_version or
// --tls-protocols is set.
func (p *prober) version(ctx context.Context, state tls.ConnectionState) {
	min := versionName(p.opts.MinVersion)
	if state.Version < p.opts.MinVersion {
		p.add(CheckVersion, Fail, "negotiated %s (expected at least %s)", versionName(state.Version), min)
		return
	}
	below := p.opts.MinVersion - 1
	conn, err := p.dial(ctx)
	if err != nil {
		p.add(CheckVersion, Fail, "negotiated %s; offering %s: %v", versionName(state.Version), versionName(below), err)
		return
	}
	defer conn.Close()
	if st, err := p.handshake(conn, below); err == nil {
		p.add(CheckVersion, Fail, "server accepted %s (expected at least %s)", versionName(st.Version), min)
		return
	}
	p.add(CheckVersion, OK, "negotiated %s, refused %s (minimum %s)", versionName(state.Version), versionName(below), min)
}

// certificate checks the chain, the name and the expiry of the server's
// certificate, at opts.Now.
func (p *prober) certificate(state tls.ConnectionState) {
	if len(state.PeerCertificates) == 0 {
		for _, c := range []string{CheckChain, CheckHostname, CheckExpiry} {
			p.add(c, Fail, "the server sent no certificate")
		}
		return
	}
	leaf := state.PeerCertificates[0]
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range p.opts.CAs {
		roots.AddCert(ca)
	}
	for _, c := range state.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   p.opts.Now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		p.add(CheckChain, Fail, "%s", p.chainError(leaf, err))
	} else {
		p.add(CheckChain, OK, "signed by %s", p.expected())
	}

	if err := leaf.VerifyHostname(p.t.ServerName); err != nil {
		p.add(CheckHostname, Fail, "certificate does not cover %q (it covers %s)", p.t.ServerName, strings.Join(leaf.DNSNames, ", "))
	} else {
		p.add(CheckHostname, OK, "covers %s", p.t.ServerName)
	}

	left := leaf.NotAfter.Sub(p.opts.Now)
	date := leaf.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case left <= 0:
		p.add(CheckExpiry, Fail, "expired %s ago (%s)", pki.FormatDuration(-left), date)
	case pki.Due(leaf, p.opts.RenewBefore, p.opts.Now):
		p.add(CheckExpiry, Fail, "expires in %s (%s), inside renewBefore %s (expected a certificate renewed by tlsgen render and rolled out)", pki.FormatDuration(left), date, pki.FormatDuration(p.opts.RenewBefore))
	default:
		p.add(CheckExpiry, OK, "expires %s (in %s; renewBefore %s)", date, pki.FormatDuration(left), pki.FormatDuration(p.opts.RenewBefore))
	}
}

// expected names the trusted CAs for messages.
func (p *prober) expected() string {
	var names []string
	for _, ca := range p.opts.CAs {
		names = append(names, fmt.Sprintf("%q", ca.Subject.CommonName))
	}
	return strings.Join(names, " or ")
}

func (p *prober) chainError(leaf *x509.Certificate, err error) string {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Sprintf("certificate signed by an unknown authority %q (expected %s)", leaf.Issuer.CommonName, p.expected())
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return fmt.Sprintf("certificate not valid at %s: valid from %s to %s", p.opts.Now.UTC().Format(time.RFC3339),
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	default:
		return strings.TrimPrefix(err.Error(), "x509: ") + fmt.Sprintf(" (expected a server certificate signed by %s)", p.expected())
	}
}

// plaintext checks that the server refuses a client that does not speak TLS.
func (p *prober) plaintext(ctx context.Context) {
	conn, err := p.dial(ctx)
	if err != nil {
		p.add(CheckPlaintext, Fail, "%v", err)
		return
	}
	defer conn.Close()
	var refused bool
	var detail string
	if p.t.Kind == Postgres {
		refused, detail = postgresPlaintext(conn)
	} else {
		refused, detail = redisPlaintext(conn)
	}
	if refused {
		p.add(CheckPlaintext, OK, "refused: %s", detail)
	} else {
		p.add(CheckPlaintext, Fail, "%s", detail)
	}
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1.0"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("TLS 0x%04x", v)
}
