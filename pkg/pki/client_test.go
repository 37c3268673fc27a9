package pki_test

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

func clientReq(name, user string) pki.Request {
	return pki.Request{
		Name:        "clients/" + name,
		CertFile:    "clients/" + name + "/client-cert.pem",
		KeyFile:     "clients/" + name + "/client-key.pem",
		CAFile:      "clients/" + name + "/ca-cert.pem",
		CommonName:  user,
		Key:         "rsa-2048",
		Validity:    3 * 365 * day,
		RenewBefore: 90 * day,
		Usage:       pki.ClientAuth,
	}
}

func TestAClientCertificateProvesItsUserForClientAuthOnly(t *testing.T) {
	fsys := fstest.MapFS{}
	server := req("postgres", "db", "localhost")
	server.Key = "rsa-2048"
	res := reconcile(t, fsys, []pki.Request{server, clientReq("auth-service", "auth_user")}, t0)
	if want := "created ca: no CA yet\nissued postgres: no certificate yet\nissued clients/auth-service: no certificate yet"; events(res) != want {
		t.Errorf("events:\n%s\nwant:\n%s", events(res), want)
	}
	c := res.Certs["clients/auth-service"].Cert
	if c.Subject.CommonName != "auth_user" || len(c.DNSNames) != 0 || c.IsCA {
		t.Errorf("client certificate: CN %q, DNSNames %v, IsCA %v; want CN auth_user and no names", c.Subject.CommonName, c.DNSNames, c.IsCA)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("client certificate ExtKeyUsage %v, want clientAuth only", c.ExtKeyUsage)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("client certificate KeyUsage %v, want digitalSignature only: a client signs, it never deciphers", c.KeyUsage)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != 3*365*day+pki.Backdate || pki.KeyTypeOf(c.PublicKey) != "rsa-2048" {
		t.Errorf("validity %s, key %s; want the request's 3y (and the backdate) and rsa-2048", got, pki.KeyTypeOf(c.PublicKey))
	}
	if s := res.Certs["postgres"].Cert; !slices.Equal(s.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server certificate ExtKeyUsage %v, want serverAuth only", s.ExtKeyUsage)
	}

	// Each verifies for its own role only, as OpenSSL and Go check it.
	roots := x509.NewCertPool()
	roots.AddCert(res.CA)
	roles := []struct {
		name  string
		cert  *x509.Certificate
		usage x509.ExtKeyUsage
		ok    bool
	}{
		{"the client certificate verifies as a client's", c, x509.ExtKeyUsageClientAuth, true},
		{"the client certificate does not verify as a server's", c, x509.ExtKeyUsageServerAuth, false},
		{"the server certificate does not verify as a client's", res.Certs["postgres"].Cert, x509.ExtKeyUsageClientAuth, false},
	}
	for _, r := range roles {
		_, err := r.cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t0.Add(day), KeyUsages: []x509.ExtKeyUsage{r.usage}})
		if (err == nil) != r.ok {
			t.Errorf("%s: Verify = %v", r.name, err)
		}
	}
}

func TestWhatChangesAStoredClientCertificate(t *testing.T) {
	tests := []struct {
		name   string
		change func(fsys fstest.MapFS, r *pki.Request)
		want   string
	}{
		{"nothing changed", func(fstest.MapFS, *pki.Request) {}, ""},
		{"another user re-issues: the CN is the identity", func(_ fstest.MapFS, r *pki.Request) { r.CommonName = "orders_user" },
			`renewed clients/auth-service: commonName changed from "auth_user" to "orders_user"`},
		{"a server's usage re-issues", func(fsys fstest.MapFS, r *pki.Request) {
			if err := signStored(fsys, *r, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }); err != nil {
				panic(err)
			}
		}, "renewed clients/auth-service: extended key usage is serverAuth, want clientAuth only"},
		{"a second usage re-issues", func(fsys fstest.MapFS, r *pki.Request) {
			if err := signStored(fsys, *r, func(c *x509.Certificate) {
				c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
			}); err != nil {
				panic(err)
			}
		}, "renewed clients/auth-service: extended key usage is clientAuth, serverAuth, want clientAuth only"},
		{"inside the renewal window it is renewed as a server's is", func(fsys fstest.MapFS, r *pki.Request) { r.RenewBefore = 3*365*day - day/2 },
			"renewed clients/auth-service: expires in 1094d, renewBefore 1094d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			r := clientReq("auth-service", "auth_user")
			r.Key = "ecdsa-p256"
			reconcile(t, fsys, []pki.Request{r}, t0)
			tc.change(fsys, &r)
			res := reconcile(t, fsys, []pki.Request{r}, t0.Add(day))
			if got := events(res); got != tc.want {
				t.Errorf("events:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestAServerCertificateWithAClientUsageIsReissued(t *testing.T) {
	fsys := fstest.MapFS{}
	r := req("redis", "redis-service")
	reconcile(t, fsys, []pki.Request{r}, t0)
	if err := signStored(fsys, r, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}); err != nil {
		t.Fatal(err)
	}
	res := reconcile(t, fsys, []pki.Request{r}, t0.Add(day))
	if want := "renewed redis: extended key usage is serverAuth, clientAuth, want serverAuth only"; events(res) != want {
		t.Errorf("events:\n%s\nwant:\n%s", events(res), want)
	}
}

func TestReadPair(t *testing.T) {
	fsys := fstest.MapFS{}
	r := clientReq("auth-service", "auth_user")
	r.Key = "ecdsa-p256"
	other := clientReq("tenant-service", "tenant_user")
	other.Key = "ecdsa-p256"
	reconcile(t, fsys, []pki.Request{r, other}, t0)

	certPEM, keyPEM, err := pki.Options{}.ReadPair(fsys, r.CertFile, r.KeyFile, "presenting it")
	if err != nil || string(certPEM) != string(fsys[r.CertFile].Data) || string(keyPEM) != string(fsys[r.KeyFile].Data) {
		t.Fatalf("ReadPair = %d, %d bytes, %v; want the stored pair", len(certPEM), len(keyPEM), err)
	}

	t.Run("a missing certificate is a FileError that is ErrNotExist", func(t *testing.T) {
		_, _, err := pki.Options{}.ReadPair(fsys, "clients/nope/client-cert.pem", "clients/nope/client-key.pem", "presenting it")
		var fe *pki.FileError
		if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) || fe.Path != "clients/nope/client-cert.pem" {
			t.Errorf("ReadPair = %v, want a FileError for the certificate, not existing", err)
		}
	})
	t.Run("another certificate's key is refused", func(t *testing.T) {
		_, _, err := pki.Options{}.ReadPair(fsys, r.CertFile, other.KeyFile, "presenting it")
		if err == nil || err.Error() != "clients/tenant-service/client-key.pem: does not match the certificate in clients/auth-service/client-cert.pem" {
			t.Errorf("ReadPair = %v", err)
		}
	})
	t.Run("a sealed key without an identity is a LockedError that says what needs it", func(t *testing.T) {
		sealed := fstest.MapFS{r.CertFile: fsys[r.CertFile], r.KeyFile + pki.SealedSuffix: &fstest.MapFile{Data: []byte("sealed")}}
		_, _, err := pki.Options{}.ReadPair(sealed, r.CertFile, r.KeyFile, "presenting it")
		var le *pki.LockedError
		if !errors.As(err, &le) || le.Path != r.KeyFile+pki.SealedSuffix || le.Reason != "presenting it" || !errors.Is(err, pki.ErrNoIdentity) {
			t.Errorf("ReadPair = %v, want a LockedError", err)
		}
	})
}
