package pki_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bakery-ia/tlsgen/pkg/pki"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func caReq() pki.CARequest {
	return pki.CARequest{CommonName: "Test CA", Key: "ecdsa-p256", Validity: 10 * 365 * day}
}

func req(name string, names ...string) pki.Request {
	return pki.Request{
		Name:        name,
		CertFile:    name + "/server-cert.pem",
		KeyFile:     name + "/server-key.pem",
		CAFile:      name + "/ca-cert.pem",
		CommonName:  name,
		DNSNames:    names,
		Key:         "ecdsa-p256",
		Validity:    3 * 365 * day,
		RenewBefore: 90 * day,
	}
}

// apply writes a result's files into fsys, as the CLI writes them to disk.
func apply(fsys fstest.MapFS, res *pki.Result) {
	for _, f := range res.Writes {
		if f.Delete {
			delete(fsys, f.Path)
			continue
		}
		fsys[f.Path] = &fstest.MapFile{Data: f.Data}
	}
}

func reconcile(t *testing.T, fsys fstest.MapFS, reqs []pki.Request, now time.Time) *pki.Result {
	t.Helper()
	res, err := pki.Reconcile(fsys, caReq(), reqs, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(fsys, res)
	return res
}

func events(res *pki.Result) string {
	var s []string
	for _, e := range res.Events {
		s = append(s, e.String())
	}
	return strings.Join(s, "\n")
}

func TestFirstReconcileCreatesTheCAAndIssuesEveryCertificate(t *testing.T) {
	fsys := fstest.MapFS{}
	now := t0.Add(1500 * time.Millisecond)
	res := reconcile(t, fsys, []pki.Request{req("postgres", "db", "localhost"), req("redis", "redis-service")}, now)

	want := "created ca: no CA yet\nissued postgres: no certificate yet\nissued redis: no certificate yet"
	if got := events(res); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	var paths []string
	for _, f := range res.Writes {
		paths = append(paths, f.Path)
		if strings.HasSuffix(f.Path, "-key.pem") != f.Private {
			t.Errorf("%s: Private = %v", f.Path, f.Private)
		}
	}
	wantPaths := "ca/ca-cert.pem ca/ca-key.pem postgres/ca-cert.pem postgres/server-cert.pem postgres/server-key.pem redis/ca-cert.pem redis/server-cert.pem redis/server-key.pem"
	if got := strings.Join(paths, " "); got != wantPaths {
		t.Errorf("writes: %s\nwant:   %s", got, wantPaths)
	}

	ca := res.CA
	if !ca.IsCA || ca.Subject.CommonName != "Test CA" || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, CN %q, MaxPathLenZero %v, KeyUsage %v", ca.IsCA, ca.Subject.CommonName, ca.MaxPathLenZero, ca.KeyUsage)
	}
	if !ca.NotBefore.Equal(t0.Add(time.Second-pki.Backdate)) || !ca.NotAfter.Equal(t0.Add(time.Second+10*365*day)) {
		t.Errorf("CA validity %s to %s: want from now truncated to the second, less the backdate for clock skew, for 10 years", ca.NotBefore, ca.NotAfter)
	}
	c := res.Certs["postgres"].Cert
	if err := c.CheckSignatureFrom(ca); err != nil {
		t.Errorf("postgres certificate not signed by the CA: %v", err)
	}
	if strings.Join(c.DNSNames, ",") != "db,localhost" || c.IsCA || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("postgres certificate: DNSNames %v, IsCA %v, ExtKeyUsage %v", c.DNSNames, c.IsCA, c.ExtKeyUsage)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != 3*365*day+pki.Backdate {
		t.Errorf("validity %s, want 3y from now and the backdate before it", got)
	}
	if pki.KeyTypeOf(c.PublicKey) != "ecdsa-p256" {
		t.Errorf("key type %s", pki.KeyTypeOf(c.PublicKey))
	}
	key, err := pki.ParseKey(res.Certs["postgres"].KeyPEM)
	if err != nil || !pki.Matches(key, c.PublicKey) {
		t.Errorf("the key does not match the certificate: %v", err)
	}
}

func TestRenewalAtFixedTimes(t *testing.T) {
	short := req("redis", "redis-service")
	short.Validity = 365 * day // due 275 days after issuance, postgres 1005 days after
	reqs := []pki.Request{req("postgres", "db"), short}

	tests := []struct {
		name string
		at   time.Duration // after the first issuance
		want string
	}{
		{"a day later nothing is re-issued", day, ""},
		{"a day before the shorter window nothing is re-issued", 274 * day, ""},
		{"inside the shorter window only that certificate is renewed", 285 * day, "renewed redis: expires in 80d, renewBefore 90d"},
		{"past its expiry the certificate is renewed and says so", 370 * day, "renewed redis: expired 5d ago"},
		{"inside both windows both are renewed", 1010 * day, "renewed postgres: expires in 85d, renewBefore 90d\nrenewed redis: expired 645d ago"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			first := reconcile(t, fsys, reqs, t0)
			res := reconcile(t, fsys, reqs, t0.Add(tc.at))
			if got := events(res); got != tc.want {
				t.Errorf("events:\n%s\nwant:\n%s", got, tc.want)
			}
			for name, c := range res.Certs {
				renewed := strings.Contains(tc.want, " "+name+":")
				same := c.Cert.Equal(first.Certs[name].Cert)
				if renewed == same || c.Issued != renewed {
					t.Errorf("%s: renewed %v, but same certificate %v, Issued %v", name, renewed, same, c.Issued)
				}
			}
		})
	}
}

func TestWhatChangesAStoredCertificate(t *testing.T) {
	tests := []struct {
		name   string
		change func(fsys fstest.MapFS, r *pki.Request)
		want   string
	}{
		{"nothing changed", func(fstest.MapFS, *pki.Request) {}, ""},
		{"a new name re-issues", func(_ fstest.MapFS, r *pki.Request) { r.DNSNames = append(r.DNSNames, "db.ns") },
			"renewed postgres: dnsNames changed (+db.ns)"},
		{"a dropped name re-issues", func(_ fstest.MapFS, r *pki.Request) { r.DNSNames = r.DNSNames[:1] },
			"renewed postgres: dnsNames changed (-localhost)"},
		{"the same names in another order change nothing", func(_ fstest.MapFS, r *pki.Request) { r.DNSNames = []string{"localhost", "db"} }, ""},
		{"another key type re-issues", func(_ fstest.MapFS, r *pki.Request) { r.Key = "ecdsa-p384" },
			"renewed postgres: key type changed from ecdsa-p256 to ecdsa-p384"},
		{"a lost key re-issues", func(fsys fstest.MapFS, r *pki.Request) { delete(fsys, r.KeyFile) },
			"renewed postgres: server-key.pem missing"},
		{"a certificate from another CA re-issues", func(fsys fstest.MapFS, r *pki.Request) {
			other := fstest.MapFS{}
			res, err := pki.Reconcile(other, pki.CARequest{CommonName: "Other CA", Key: "ecdsa-p256", Validity: 365 * day}, nil, t0)
			if err != nil {
				panic(err)
			}
			for _, f := range res.Writes {
				fsys[f.Path] = &fstest.MapFile{Data: f.Data}
			}
		}, `renewed postgres: not signed by the current CA "Other CA"`},
		{"an IP address tlsgen does not issue re-issues, and says so", func(fsys fstest.MapFS, r *pki.Request) {
			if err := signStored(fsys, *r, func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)} }); err != nil {
				panic(err)
			}
		}, "renewed postgres: IP addresses changed (-127.0.0.1)"},
		{"an IP address and a dropped name are both told", func(fsys fstest.MapFS, r *pki.Request) {
			if err := signStored(fsys, *r, func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.IPv6loopback} }); err != nil {
				panic(err)
			}
			r.DNSNames = r.DNSNames[:1]
		}, "renewed postgres: dnsNames changed (-localhost); IP addresses changed (-::1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			r := req("postgres", "db", "localhost")
			reconcile(t, fsys, []pki.Request{r}, t0)
			tc.change(fsys, &r)
			res := reconcile(t, fsys, []pki.Request{r}, t0.Add(day))
			if got := events(res); got != tc.want {
				t.Errorf("events:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.want != "" {
				if err := res.Certs["postgres"].Cert.CheckSignatureFrom(res.CA); err != nil {
					t.Errorf("the new certificate is not signed by the CA: %v", err)
				}
			}
		})
	}
}

func TestACertificateNeverOutlivesItsCA(t *testing.T) {
	fsys := fstest.MapFS{}
	ca := pki.CARequest{CommonName: "Short CA", Key: "ecdsa-p256", Validity: 365 * day}
	res, err := pki.Reconcile(fsys, ca, []pki.Request{req("postgres", "db")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	apply(fsys, res)
	if c := res.Certs["postgres"].Cert; !c.NotAfter.Equal(res.CA.NotAfter) {
		t.Errorf("certificate expires %s, its CA %s", c.NotAfter, res.CA.NotAfter)
	}
	// Inside the window a new certificate would expire no later: keep it, warn.
	res, err = pki.Reconcile(fsys, ca, []pki.Request{req("postgres", "db")}, t0.Add(300*day))
	if err != nil {
		t.Fatal(err)
	}
	// The warning says how to rotate.
	want := "postgres: expires in 65d with the CA: rotate the CA (tlsgen rotate-ca start)"
	if len(res.Events) != 0 || len(res.Warnings) != 2 || res.Warnings[1] != want || !strings.HasPrefix(res.Warnings[0], "ca: the CA expires on ") {
		t.Errorf("events %v, warnings %q: want no renewal and the warning %q", res.Events, res.Warnings, want)
	}
}

func TestStoredFilesThatCannotBeUsed(t *testing.T) {
	tests := []struct {
		name   string
		change func(fsys fstest.MapFS)
		at     time.Duration
		path   string
		want   string
	}{
		{"a CA key missing when a certificate is due", func(fsys fstest.MapFS) {
			delete(fsys, pki.CAKeyFile)
			delete(fsys, "postgres/server-cert.pem")
		}, day, pki.CAKeyFile, "missing, and postgres needs a new certificate (server-cert.pem missing)"},
		{"a CA key without its certificate", func(fsys fstest.MapFS) { delete(fsys, pki.CACertFile) }, day, pki.CAKeyFile, "found without ca/ca-cert.pem"},
		{"a corrupt certificate", func(fsys fstest.MapFS) { fsys["postgres/server-cert.pem"].Data = []byte("not PEM") }, day, "postgres/server-cert.pem", "no PEM certificate found"},
		{"a corrupt CA certificate", func(fsys fstest.MapFS) {
			fsys[pki.CACertFile].Data = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}, day, pki.CACertFile, "x509"},
		{"a corrupt key", func(fsys fstest.MapFS) { fsys["postgres/server-key.pem"].Data = []byte("garbage") }, day, "postgres/server-key.pem", "no PEM block found"},
		{"a key that does not match its certificate", func(fsys fstest.MapFS) {
			fsys["postgres/server-key.pem"] = fsys["redis/server-key.pem"]
		}, day, "postgres/server-key.pem", "does not match the certificate in postgres/server-cert.pem"},
		{"a CA key that does not match the CA", func(fsys fstest.MapFS) { fsys[pki.CAKeyFile] = fsys["redis/server-key.pem"] }, day, pki.CAKeyFile, "does not match the certificate in ca/ca-cert.pem"},
	}
	reqs := []pki.Request{req("postgres", "db"), req("redis", "redis-service")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			reconcile(t, fsys, reqs, t0)
			tc.change(fsys)
			res, err := pki.Reconcile(fsys, caReq(), reqs, t0.Add(tc.at))
			var fe *pki.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, %v; want a *pki.FileError", res, err)
			}
			if fe.Path != tc.path || !strings.Contains(fe.Err.Error(), tc.want) {
				t.Errorf("error %q on %s; want %q on %s", fe.Err, fe.Path, tc.want, tc.path)
			}
		})
	}
}

func TestAMissingCAKeyIsFineWhileNothingIsDue(t *testing.T) {
	// The CA key may be kept offline between renewals.
	fsys := fstest.MapFS{}
	reqs := []pki.Request{req("postgres", "db")}
	reconcile(t, fsys, reqs, t0)
	delete(fsys, pki.CAKeyFile)
	res, err := pki.Reconcile(fsys, caReq(), reqs, t0.Add(day))
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("got %v, %v; want the stored certificate reused", res, err)
	}
}

func TestKeysOfEveryType(t *testing.T) {
	for _, kt := range []pki.KeyType{"rsa-2048", "ecdsa-p256", "ecdsa-p384"} {
		key, err := pki.GenerateKey(kt)
		if err != nil {
			t.Fatal(err)
		}
		if got := pki.KeyTypeOf(key.Public()); got != kt {
			t.Errorf("GenerateKey(%s) made a %s key", kt, got)
		}
		pemKey, err := pki.EncodeKey(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := pki.ParseKey(pemKey)
		if err != nil || !pki.Matches(back, key.Public()) {
			t.Errorf("%s: the key does not survive PEM: %v", kt, err)
		}
	}
	if _, err := pki.GenerateKey("dsa-1024"); err == nil {
		t.Error("GenerateKey accepted an unknown type")
	}
}

// signStored re-signs what is stored for r with the stored CA and server
// key, after edit changes a template copied from the stored certificate:
// a certificate tlsgen did not issue itself, or issued under older rules.
func signStored(fsys fstest.MapFS, r pki.Request, edit func(*x509.Certificate)) error {
	caCerts, err := pki.ParseCerts(fsys[pki.CACertFile].Data)
	if err != nil {
		return err
	}
	caKey, err := pki.ParseKey(fsys[pki.CAKeyFile].Data)
	if err != nil {
		return err
	}
	key, err := pki.ParseKey(fsys[r.KeyFile].Data)
	if err != nil {
		return err
	}
	old, err := pki.ParseCerts(fsys[r.CertFile].Data)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: old[0].SerialNumber,
		Subject:      old[0].Subject,
		DNSNames:     old[0].DNSNames,
		NotBefore:    old[0].NotBefore,
		NotAfter:     old[0].NotAfter,
		KeyUsage:     old[0].KeyUsage,
		ExtKeyUsage:  old[0].ExtKeyUsage,
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCerts[0], key.Public(), caKey)
	if err != nil {
		return err
	}
	fsys[r.CertFile] = &fstest.MapFile{Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	return nil
}

// replaceCA stores a new self-signed CA made from tmpl, with its key, as a
// CA made by hand (openssl) would be stored.
func replaceCA(fsys fstest.MapFS, tmpl *x509.Certificate) error {
	key, err := pki.GenerateKey("ecdsa-p256")
	if err != nil {
		return err
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = t0, t0.Add(10*365*day)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return err
	}
	fsys[pki.CACertFile] = &fstest.MapFile{Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	fsys[pki.CAKeyFile] = &fstest.MapFile{Data: keyPEM}
	return nil
}

func TestACAThatCannotSignIsRefused(t *testing.T) {
	// Each of these CAs was accepted once, or refused in other words; a CA
	// whose key usage lacks keyCertSign fails every CheckSignatureFrom, so
	// each render re-issued every certificate "not signed by the current CA".
	tests := []struct {
		name string
		ca   x509.Certificate
		want string
	}{
		{"a CA whose key usage lacks keyCertSign", x509.Certificate{
			Subject: pkix.Name{CommonName: "No CertSign CA"}, BasicConstraintsValid: true, IsCA: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		}, `"No CertSign CA" cannot sign certificates: its key usage lacks keyCertSign (it has digitalSignature, cRLSign)`},
		{"a certificate whose basic constraints say it is not a CA", x509.Certificate{
			Subject: pkix.Name{CommonName: "Leaf"}, BasicConstraintsValid: true, IsCA: false,
			KeyUsage: x509.KeyUsageCertSign,
		}, `"Leaf" cannot sign certificates: its basic constraints say it is not a CA`},
		{"a certificate without basic constraints", x509.Certificate{
			Subject:  pkix.Name{CommonName: "No Constraints"},
			KeyUsage: x509.KeyUsageCertSign,
		}, `"No Constraints" cannot sign certificates: it has no basic constraints marking it a CA`},
	}
	reqs := []pki.Request{req("postgres", "db")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			reconcile(t, fsys, reqs, t0)
			if err := replaceCA(fsys, &tc.ca); err != nil {
				t.Fatal(err)
			}
			res, err := pki.Reconcile(fsys, caReq(), reqs, t0.Add(day))
			var fe *pki.FileError
			if !errors.As(err, &fe) {
				if res != nil {
					t.Errorf("events:\n%s", events(res))
				}
				t.Fatalf("got %v; want a *pki.FileError", err)
			}
			if fe.Path != pki.CACertFile || fe.Err.Error() != tc.want {
				t.Errorf("error %q on %s; want %q on %s", fe.Err, fe.Path, tc.want, pki.CACertFile)
			}
		})
	}
}

func TestACAWithoutAKeyUsageExtensionSigns(t *testing.T) {
	// openssl's default v3_ca leaves keyUsage out; RFC 5280 4.2.1.3 then
	// sets no restriction, and Go and OpenSSL verify its signatures.
	fsys := fstest.MapFS{}
	if err := replaceCA(fsys, &x509.Certificate{Subject: pkix.Name{CommonName: "openssl CA"}, BasicConstraintsValid: true, IsCA: true}); err != nil {
		t.Fatal(err)
	}
	reqs := []pki.Request{req("postgres", "db")}
	if got := events(reconcile(t, fsys, reqs, t0)); got != "issued postgres: no certificate yet" {
		t.Errorf("events %q", got)
	}
	if got := events(reconcile(t, fsys, reqs, t0.Add(day))); got != "" {
		t.Errorf("events %q on the second render; want the certificate reused", got)
	}
}

// A name long enough to push a Service's FQDN past 64 characters.
const longNS = "a-namespace-whose-name-is-long-enough"

func TestACommonNameOver64CharactersIsLeftOutAndTheSANsKeepEveryName(t *testing.T) {
	svc := "inventory-management-db-service"
	fqdn := svc + "." + longNS + ".svc.cluster.local"
	wildcard := "*." + longNS + "-and-longer.svc.cluster.local"
	exactly64 := strings.Repeat("a", 64-len(".svc.cluster.local")) + ".svc.cluster.local"
	tests := []struct {
		name   string
		cn     string
		names  []string
		wantCN string
	}{
		{"a Service FQDN over 64 characters", fqdn, []string{svc, svc + "." + longNS, svc + "." + longNS + ".svc", fqdn, "localhost"}, ""},
		{"the shared wildcard over 64 characters", wildcard, []string{wildcard, "db", "localhost"}, ""},
		{"a name of exactly 64 characters stays the common name", exactly64, []string{exactly64, "localhost"}, exactly64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.cn) <= 64 && tc.wantCN == "" {
				t.Fatalf("the test's name %q is not over 64 characters", tc.cn)
			}
			r := req("postgres", tc.names...)
			r.CommonName = tc.cn
			fsys := fstest.MapFS{}
			c := reconcile(t, fsys, []pki.Request{r}, t0).Certs["postgres"].Cert
			if c.Subject.CommonName != tc.wantCN {
				t.Errorf("CommonName %q (%d characters), want %q", c.Subject.CommonName, len(c.Subject.CommonName), tc.wantCN)
			}
			if !slices.Equal(c.DNSNames, tc.names) {
				t.Errorf("DNSNames %q, want %q", c.DNSNames, tc.names)
			}
			if err := c.VerifyHostname(tc.names[0]); err != nil {
				t.Errorf("the certificate does not cover %s: %v", tc.names[0], err)
			}
			// RFC 5280 4.1.2.6: with an empty subject the SANs are critical.
			for _, e := range c.Extensions {
				if e.Id.Equal([]int{2, 5, 29, 17}) && e.Critical != (tc.wantCN == "") {
					t.Errorf("subjectAltName critical %v with subject %q", e.Critical, c.Subject)
				}
			}
			if got := events(reconcile(t, fsys, []pki.Request{r}, t0.Add(day))); got != "" {
				t.Errorf("the next render re-issued: %s", got)
			}
		})
	}
}

func TestAStoredCommonNameOver64CharactersIsRenewedOnce(t *testing.T) {
	// Certificates issued before the rule carry the long name.
	svc := "inventory-management-db-service"
	fqdn := svc + "." + longNS + ".svc.cluster.local"
	r := req("postgres", svc, fqdn)
	r.CommonName = fqdn
	fsys := fstest.MapFS{}
	reconcile(t, fsys, []pki.Request{r}, t0)
	if err := signStored(fsys, r, func(c *x509.Certificate) { c.Subject.CommonName = fqdn }); err != nil {
		t.Fatal(err)
	}
	want := "renewed postgres: commonName longer than 64 characters (RFC 5280 ub-common-name)"
	if got := events(reconcile(t, fsys, []pki.Request{r}, t0.Add(day))); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if got := events(reconcile(t, fsys, []pki.Request{r}, t0.Add(2*day))); got != "" {
		t.Errorf("the next render re-issued again: %s", got)
	}
}
