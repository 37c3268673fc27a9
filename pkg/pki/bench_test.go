package pki_test

import (
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// exampleRequests are the example's keys: an RSA-4096 CA, the shared
// PostgreSQL certificate and Redis.
func exampleRequests() (pki.CARequest, []pki.Request) {
	ca := pki.CARequest{CommonName: "Bakery IA Internal CA", Key: "rsa-4096", Validity: 10 * 365 * day}
	pg, redis := req("postgres", "*.bakery-ia.svc.cluster.local", "localhost"), req("redis", "redis-service", "localhost")
	pg.Key, redis.Key = "rsa-4096", "rsa-4096"
	return ca, []pki.Request{pg, redis}
}

// BenchmarkColdIssuanceExample issues the example's three RSA-4096 keys
// from nothing. The goal is 1.3x the ideal: keys cannot be split, so the
// ideal is ceil(keys/cores) rounds of BenchmarkRSA4096Key. It reports the
// rounds for this machine.
func BenchmarkColdIssuanceExample(b *testing.B) {
	ca, reqs := exampleRequests()
	keys := 1 + len(reqs)
	cores := runtime.GOMAXPROCS(0)
	for b.Loop() {
		if _, err := pki.Reconcile(fstest.MapFS{}, ca, reqs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((keys+cores-1)/cores), "rounds")
}

// BenchmarkRSA4096Key is the time of one key, the unit of the ideal above.
func BenchmarkRSA4096Key(b *testing.B) {
	for b.Loop() {
		if _, err := pki.GenerateKey("rsa-4096"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmReconcileExample is the PKI's share of a warm render: read,
// parse and check the stored CA and certificates.
func BenchmarkWarmReconcileExample(b *testing.B) {
	ca, reqs := exampleRequests()
	fsys := fstest.MapFS{}
	res, err := pki.Reconcile(fsys, ca, reqs, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	apply(fsys, res)
	for b.Loop() {
		if _, err := pki.Reconcile(fsys, ca, reqs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
