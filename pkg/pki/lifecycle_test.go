package pki_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// Issue 9: --at judges which certificates are due; it never dates one.
func TestAtJudgesAndNeverDates(t *testing.T) {
	fsys := fstest.MapFS{}
	reqs := []pki.Request{req("postgres", "db")}
	reconcile(t, fsys, reqs, t0)
	later := t0.Add(3*365*day - 30*day) // inside the renewal window
	res, err := pki.Options{At: later}.Reconcile(fsys, caReq(), reqs, t0.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Certs["postgres"].Cert
	if !res.Certs["postgres"].Issued || !c.NotBefore.Equal(t0.Add(day-pki.Backdate)) {
		t.Fatalf("issued %v, valid from %s: want issued now, valid from now less the backdate", res.Certs["postgres"].Issued, c.NotBefore)
	}
}

// A certificate issued for a later time (by an older tlsgen's --at) is not
// valid yet: it is issued again, and the reason says so.
func TestACertificateFromTheFutureIsIssuedAgain(t *testing.T) {
	fsys := fstest.MapFS{}
	reqs := []pki.Request{req("postgres", "db")}
	reconcile(t, fsys, reqs, t0.Add(365*day)) // as `render --at` a year ahead used to
	res := reconcile(t, fsys, reqs, t0)
	if got := events(res); !strings.HasPrefix(got, "renewed postgres: not valid until 2027-01-01T11:55:00Z: it was issued for a later time") {
		t.Fatalf("events: %s", got)
	}
}

// An expired CA signs nothing: the render stops and points at rotate-ca.
func TestAnExpiredCAIssuesNothing(t *testing.T) {
	fsys := fstest.MapFS{}
	ca := pki.CARequest{CommonName: "Short CA", Key: "ecdsa-p256", Validity: 365 * day}
	reqs := []pki.Request{req("postgres", "db")}
	if _, err := pki.Reconcile(fsys, ca, reqs, t0); err != nil {
		t.Fatal(err)
	}
	res, err := pki.Reconcile(fsys, ca, reqs, t0)
	if err != nil {
		t.Fatal(err)
	}
	apply(fsys, res)
	_, err = pki.Reconcile(fsys, ca, reqs, t0.Add(400*day))
	var fe *pki.FileError
	if !errors.As(err, &fe) || fe.Path != pki.CACertFile || !strings.Contains(err.Error(), "expired on 2027-01-01 and can sign nothing") || !strings.Contains(err.Error(), "tlsgen rotate-ca start") {
		t.Fatalf("err = %v", err)
	}
}

// A certificate the CA's end cuts short is issued, with a warning.
func TestACertificateCutShortByItsCAIsSaid(t *testing.T) {
	fsys := fstest.MapFS{}
	ca := pki.CARequest{CommonName: "Short CA", Key: "ecdsa-p256", Validity: 2 * 365 * day}
	res, err := pki.Reconcile(fsys, ca, []pki.Request{req("postgres", "db")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := "postgres: valid until 2028-01-01 only, when the CA expires, not for 1095d: rotate the CA (tlsgen rotate-ca start)"
	if !strings.Contains(strings.Join(res.Warnings, "\n"), want) {
		t.Fatalf("warnings %q, want %q", res.Warnings, want)
	}
}

// A CA rotation in three phases: start adds the next CA to every bundle
// and keeps the certificates; switch re-issues them from it; finish drops
// the old CA. Each phase refuses to run out of order.
func TestCARotation(t *testing.T) {
	fsys := fstest.MapFS{}
	reqs := []pki.Request{req("postgres", "db"), req("redis", "redis")}
	first := reconcile(t, fsys, reqs, t0)
	o := pki.Options{}
	step := func(files []pki.File, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		apply(fsys, &pki.Result{Writes: files})
	}
	var pe *pki.PhaseError
	if _, err := o.RotateSwitch(fsys); !errors.As(err, &pe) || !strings.Contains(err.Error(), "no CA rotation is under way; the next step is tlsgen rotate-ca start") {
		t.Fatalf("switch before start: %v", err)
	}
	step(o.RotateStart(fsys, caReq(), t0.Add(day)))
	if _, err := o.RotateStart(fsys, caReq(), t0.Add(day)); !errors.As(err, &pe) {
		t.Fatalf("start twice: %v", err)
	}
	if _, err := o.RotateFinish(fsys, reqs); !errors.As(err, &pe) || !strings.Contains(err.Error(), "the next step is tlsgen rotate-ca switch") {
		t.Fatalf("finish before switch: %v", err)
	}

	started := reconcile(t, fsys, reqs, t0.Add(2*day))
	if started.Phase != pki.PhaseStarted || len(started.Events) != 0 {
		t.Fatalf("after start: phase %q, events %s: want the certificates kept", started.Phase, events(started))
	}
	bundle, _ := pki.ParseCerts(started.CAPEM)
	if len(bundle) != 2 || !bundle[0].Equal(first.CA) || bundle[1].Subject.CommonName != "Test CA 2026-01-02" {
		t.Fatalf("the bundle after start: %d CAs", len(bundle))
	}
	if string(fsys["postgres/ca-cert.pem"].Data) != string(started.CAPEM) {
		t.Errorf("postgres/ca-cert.pem is not the bundle of both")
	}

	step(o.RotateSwitch(fsys))
	switched := reconcile(t, fsys, reqs, t0.Add(3*day))
	if got := events(switched); !strings.Contains(got, `renewed postgres: not signed by the current CA "Test CA 2026-01-02"`) || !strings.Contains(got, "renewed redis") {
		t.Fatalf("after switch: %s", got)
	}
	if err := switched.Certs["redis"].Cert.CheckSignatureFrom(switched.Next); err != nil || len(switched.CAPEM) != len(started.CAPEM) {
		t.Fatalf("after switch: not signed by the next CA (%v), or the bundle changed", err)
	}

	step(o.RotateFinish(fsys, reqs))
	finished := reconcile(t, fsys, reqs, t0.Add(4*day))
	if finished.Phase != pki.PhaseNone || !finished.CA.Equal(switched.Next) || len(finished.Events) != 0 {
		t.Fatalf("after finish: phase %q, CA %q, events %s", finished.Phase, finished.CA.Subject.CommonName, events(finished))
	}
	if b, _ := pki.ParseCerts(finished.CAPEM); len(b) != 1 {
		t.Fatalf("the bundle after finish holds %d CAs", len(b))
	}
	for _, p := range []string{pki.NextCACertFile, pki.NextCAKeyFile, pki.RotationFile} {
		if fsys[p] != nil {
			t.Errorf("%s left after finish", p)
		}
	}
}

// finish refuses while a certificate is still signed by the old CA.
func TestFinishBeforeTheReissueIsRefused(t *testing.T) {
	fsys := fstest.MapFS{}
	reqs := []pki.Request{req("postgres", "db")}
	reconcile(t, fsys, reqs, t0)
	o := pki.Options{}
	for _, f := range []func() ([]pki.File, error){
		func() ([]pki.File, error) { return o.RotateStart(fsys, caReq(), t0) },
		func() ([]pki.File, error) { return o.RotateSwitch(fsys) },
	} {
		files, err := f()
		if err != nil {
			t.Fatal(err)
		}
		apply(fsys, &pki.Result{Writes: files})
	}
	_, err := o.RotateFinish(fsys, reqs)
	if err == nil || !strings.Contains(err.Error(), "postgres/server-cert.pem: not signed by the new CA") {
		t.Fatalf("err = %v", err)
	}
}

// A database dropped from the inventory, or the shared certificate after a
// switch to perDatabase, is stale: reported, and removed on request.
func TestStaleCertificates(t *testing.T) {
	fsys := fstest.MapFS{}
	reconcile(t, fsys, []pki.Request{req("postgres", "db"), req("postgres/auth-db", "auth"), req("redis", "redis")}, t0)
	fsys["postgres/auth-db/server-key.pem.age"] = &fstest.MapFile{Data: []byte("sealed")}
	names, files, err := pki.Stale(fsys, []pki.Request{req("redis", "redis")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, " ") != "postgres postgres/auth-db" {
		t.Fatalf("stale: %q", names)
	}
	var paths []string
	for _, f := range files {
		if !f.Delete {
			t.Errorf("%s: not a removal", f.Path)
		}
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "postgres/ca-cert.pem postgres/server-cert.pem postgres/server-key.pem postgres/auth-db/ca-cert.pem postgres/auth-db/server-cert.pem postgres/auth-db/server-key.pem postgres/auth-db/server-key.pem.age" {
		t.Errorf("removes %s", got)
	}
	if names, _, _ := pki.Stale(fsys, []pki.Request{req("postgres", "db"), req("postgres/auth-db", "auth"), req("redis", "redis")}); len(names) != 0 {
		t.Errorf("stale with everything asked for: %q", names)
	}
}
