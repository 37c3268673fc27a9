package verify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"github.com/bakery-ia/tlsgen/pkg/verify"
)

func TestTargetsAreTheServiceNamesOfTheInventory(t *testing.T) {
	got := verify.Targets(gen.Inventory())
	want := []verify.Target{
		{Name: "auth-db", Kind: verify.Postgres, ServerName: "auth-db-service.bakery-ia.svc.cluster.local", Addr: "auth-db-service.bakery-ia.svc.cluster.local:5432"},
		{Name: "tenant-db", Kind: verify.Postgres, ServerName: "tenant-db-service.bakery-ia.svc.cluster.local", Addr: "tenant-db-service.bakery-ia.svc.cluster.local:5432"},
		{Name: "redis", Kind: verify.Redis, ServerName: "redis-service.bakery-ia.svc.cluster.local", Addr: "redis-service.bakery-ia.svc.cluster.local:6379"},
	}
	if len(got) != len(want) {
		t.Fatalf("Targets = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The real servers (integration/) run the rendered settings, which never
// accept a version below the minimum. An in-process server that does shows
// the check can fail.
func TestAServerThatAcceptsAVersionBelowTheMinimumFails(t *testing.T) {
	inv := gen.Inventory(gen.Profile(model.Modern))
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(os.DirFS(t.TempDir()), ca, reqs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := state.Certs["redis"]
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		serverMin  uint16
		wantStatus verify.Status
		wantDetail string
	}{
		{"a server that accepts TLS 1.2 fails the modern profile", tls.VersionTLS12, verify.Fail, "server accepted TLSv1.2 (expected at least TLSv1.3)"},
		{"a server that accepts TLS 1.3 only passes it", tls.VersionTLS13, verify.OK, "negotiated TLSv1.3, refused TLSv1.2 (minimum TLSv1.3)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tc.serverMin})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					go func(conn net.Conn) {
						defer conn.Close()
						conn.SetDeadline(time.Now().Add(2 * time.Second))
						conn.(*tls.Conn).Handshake()
					}(conn)
				}
			}()
			target := verify.Targets(inv)[2]
			target.Addr = l.Addr().String()
			results := verify.Probe(context.Background(), target, verify.Options{
				CAs: []*x509.Certificate{state.CA}, MinVersion: verify.MinVersion(inv.TLS.Profile),
				RenewBefore: inv.PKI.Server.RenewBefore.Value, Now: time.Now(), Timeout: 2 * time.Second,
			})
			found := false
			for _, r := range results {
				if r.Check == verify.CheckVersion {
					found = true
					if r.Status != tc.wantStatus || !strings.Contains(r.Detail, tc.wantDetail) {
						t.Errorf("tls-version: %s %q, want %s %q", r.Status, r.Detail, tc.wantStatus, tc.wantDetail)
					}
				}
			}
			if !found {
				t.Fatalf("no tls-version check in %+v", results)
			}
		})
	}
}

// A Redis that hears a plaintext PING and says nothing, keeping the
// connection open, has not refused it: a timeout is not an answer (issue 7).
func TestASilentServerIsNotARefusal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { // read everything, answer nothing, close late
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	inv := gen.Inventory()
	target := verify.Targets(inv)[2]
	target.Addr = l.Addr().String()
	results := verify.Probe(context.Background(), target, verify.Options{Now: time.Now(), Timeout: 300 * time.Millisecond})
	for _, r := range results {
		if r.Check == verify.CheckPlaintext {
			if r.Status != verify.Fail || !strings.Contains(r.Detail, "before the timeout") {
				t.Errorf("plaintext: %s %q, want a failure that says the server did not answer", r.Status, r.Detail)
			}
			return
		}
	}
	t.Fatalf("no plaintext check in %+v", results)
}
