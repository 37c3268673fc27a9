package verify_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"github.com/bakery-ia/tlsgen/pkg/verify"
)

// A Redis-like server in process: it asks for client certificates as
// Redis does (required, or not), then answers any command -NOAUTH.
func fakeRedis(t *testing.T, server tls.Certificate, cas *x509.CertPool, auth tls.ClientAuthType, maxVersion uint16) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}, ClientCAs: cas, ClientAuth: auth, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
					return
				}
				conn.Write([]byte("-NOAUTH Authentication required.\r\n"))
			}(conn)
		}
	}()
	return l.Addr().String()
}

func TestClientChecksReadTheServersAnswer(t *testing.T) {
	inv := gen.Inventory(gen.Clients(gen.AuthService), gen.ClientAuth(model.PostgresClientAuthNone, model.RedisClientAuthRequired))
	ca, reqs := render.Requests(inv)
	state, err := pki.Reconcile(os.DirFS(t.TempDir()), ca, reqs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(name string) tls.Certificate {
		c := state.Certs[name]
		cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	server, client := pair("redis"), pair("clients/auth-service")
	cas := x509.NewCertPool()
	cas.AddCert(state.CA)
	otherState, err := pki.Reconcile(os.DirFS(t.TempDir()), pki.CARequest{CommonName: "Other CA", Key: "ecdsa-p256", Validity: model.Year}, reqs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := otherState.Certs["clients/auth-service"]
	stranger, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                 string
		auth                 tls.ClientAuthType
		max                  uint16
		cert                 *tls.Certificate
		required             bool
		wantCert, wantNoCert string // status and a pattern of the detail
	}{
		{
			name: "under TLS 1.3 a required certificate is judged after the client's handshake: the refusal is read from the server",
			auth: tls.RequireAndVerifyClientCert, max: tls.VersionTLS13, cert: &client, required: true,
			wantCert:   `ok auth-service's certificate accepted: PING answered "-NOAUTH Authentication required."`,
			wantNoCert: `ok a client without a certificate is refused: no reply to PING: tls: certificate required`,
		},
		{
			name: "under TLS 1.2 the handshake itself fails without a certificate",
			auth: tls.RequireAndVerifyClientCert, max: tls.VersionTLS12, cert: &client, required: true,
			wantCert:   `ok auth-service's certificate accepted`,
			wantNoCert: `ok a client without a certificate is refused: the handshake failed: tls: (handshake failure|bad certificate)`,
		},
		{
			name: "a certificate from another CA is refused, though the server does not name that CA",
			auth: tls.RequireAndVerifyClientCert, max: tls.VersionTLS13, cert: &stranger, required: true,
			wantCert:   `FAIL auth-service's certificate refused: no reply to PING: tls: unknown certificate authority`,
			wantNoCert: `ok a client without a certificate is refused`,
		},
		{
			name: "a server that lets a client in without a certificate fails when the inventory requires one",
			auth: tls.VerifyClientCertIfGiven, max: tls.VersionTLS13, cert: &client, required: true,
			wantCert:   `ok auth-service's certificate accepted`,
			wantNoCert: `FAIL a client without a certificate is let in \(PING answered "-NOAUTH Authentication required."\), but redis.clientAuth is required \(expected the server to require one\)`,
		},
		{
			name: "a server that requires a certificate the inventory does not fails: the clients have none",
			auth: tls.RequireAndVerifyClientCert, max: tls.VersionTLS13, required: false,
			wantCert:   `skip the inventory gives auth-service no certificate for this server \(redis.clientAuth is none\)`,
			wantNoCert: `FAIL a client without a certificate is refused \(no reply to PING: tls: certificate required\), but redis.clientAuth is none: clients the inventory gives no certificate cannot connect`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := verify.Targets(inv)[2]
			target.Addr = fakeRedis(t, server, cas, tc.auth, tc.max)
			target.Certificate = tc.cert
			setting := "redis.clientAuth is none"
			if tc.required {
				setting = "redis.clientAuth is required"
			}
			target.Client = &verify.Client{Name: "auth-service", User: "auth_user", Certificate: tc.cert, Required: tc.required, Setting: setting}
			results := verify.Probe(context.Background(), target, verify.Options{Now: time.Now(), Timeout: 2 * time.Second, MinVersion: tls.VersionTLS12})
			got := map[string]string{}
			for _, r := range results {
				got[r.Check] = string(r.Status) + " " + r.Detail
			}
			for check, want := range map[string]string{verify.CheckClientCert: tc.wantCert, verify.CheckClientRequired: tc.wantNoCert} {
				if !regexp.MustCompile("^" + want).MatchString(got[check]) {
					t.Errorf("%s: %q\nwant %q", check, got[check], want)
				}
			}
		})
	}
}
