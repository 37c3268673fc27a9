// Package pki keeps the private CA and the server certificates: it reads the
// stored state, decides what must be issued or renewed at a given time, and
// issues it. It reads through an fs.FS and returns the files to write, so the
// caller decides where and when they are written; the clock is an argument.
package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The R4 layout of the PKI directory.
const (
	CACertFile = "ca/ca-cert.pem"
	CAKeyFile  = "ca/ca-key.pem"
)

// newCA is how to replace the CA: Reconcile creates one when ca/ holds
// none, and every certificate the old one signed is then re-issued.
const newCA = "move ca/ away to start a new CA that every client must then trust"

// CARequest describes the CA to create when there is none.
type CARequest struct {
	CommonName string
	Key        KeyType
	Validity   time.Duration
}

// Usage is what a certificate is for: its one extended key usage.
type Usage int

// The usages. A server certificate cannot be presented as a client's, nor a
// client's as a server's: each has the one extended key usage its role
// needs (RFC 5280 4.2.1.12), and OpenSSL and Go check it on both sides.
const (
	ServerAuth Usage = iota // the zero value: server certificates
	ClientAuth
)

func (u Usage) extKeyUsage() x509.ExtKeyUsage {
	if u == ClientAuth {
		return x509.ExtKeyUsageClientAuth
	}
	return x509.ExtKeyUsageServerAuth
}

// role is who presents a certificate of this usage, for messages.
func (u Usage) role() string {
	if u == ClientAuth {
		return "client"
	}
	return "server"
}

func (u Usage) String() string {
	if u == ClientAuth {
		return "clientAuth"
	}
	return "serverAuth"
}

// Request describes one certificate to keep: a server's or a client's.
type Request struct {
	// Name is the certificate's directory in the PKI directory, e.g.
	// "postgres" or "postgres/auth-db"; messages name it.
	Name string
	// CertFile, KeyFile and CAFile are paths in the PKI directory.
	CertFile, KeyFile, CAFile string
	// CommonName is left out of the certificate when it is longer than
	// RFC 5280 allows (see subjectCommonName): list it in DNSNames too,
	// the names clients match.
	CommonName            string
	DNSNames              []string
	Key                   KeyType
	Validity, RenewBefore time.Duration
	// Usage is ServerAuth for a server. A ClientAuth certificate proves
	// CommonName, the client's database user, which PostgreSQL compares
	// with the user it connects as: a stored one is re-issued when its CN
	// differs, and it names no DNS names.
	Usage Usage
}

// Cert is a certificate ready to ship: reused or freshly issued. KeyPEM is
// nil when the key is stored sealed and could not be opened (KeyErr says
// why): the Secret that ships it can then only be kept as it is.
type Cert struct {
	Cert            *x509.Certificate
	CertPEM, KeyPEM []byte
	KeyErr          error
	Issued          bool
}

// Event says that something was created or issued, and why.
type Event struct {
	Name   string // "ca", "postgres", "postgres/auth-db"
	Action string // "created", "issued", "renewed"
	Reason string
}

func (e Event) String() string { return e.Action + " " + e.Name + ": " + e.Reason }

// File is a file to write into the PKI directory, or to remove from it.
type File struct {
	Path    string
	Data    []byte
	Private bool // a key: written 0600
	Delete  bool // removed, in the same transaction as the writes
}

// Result is the PKI state after reconciling.
type Result struct {
	// CA is the current CA; Next the one a rotation is bringing in, or nil;
	// Issuer the one that signs (Next once the rotation has switched).
	CA, Next, Issuer *x509.Certificate
	Phase            Phase
	// CAPEM is the bundle clients and servers trust: the CA, and the next
	// one during a rotation.
	CAPEM []byte
	// Due lists, in a dry run, what a render would issue, and why.
	Due    []Renewal
	Certs  map[string]*Cert // by Request.Name
	Events []Event
	// Warnings are things to fix that do not stop the render.
	Warnings []string
	// Writes are the files that changed, sorted by path.
	Writes []File
}

// FileError is a stored file that cannot be used as it is. Nothing is
// issued when one is found: replacing it silently could lose a key.
type FileError struct {
	Path string // in the PKI directory
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Reconcile reads the PKI state from fsys and brings it to what ca and reqs
// ask for at now: it creates the CA when there is none, reuses every stored
// certificate that is still good and issues the others. Keys are generated
// in parallel. The files to write come back in Result.Writes; fsys is only
// read.
func Reconcile(fsys fs.FS, ca CARequest, reqs []Request, now time.Time) (*Result, error) {
	return Options{}.Reconcile(fsys, ca, reqs, now)
}

// Reconcile is Reconcile with the keys kept as o says (a key is opened
// only when there is an identity, and needed only to sign or to change how
// it is kept), due-ness judged at o.At, and, with o.DryRun, nothing issued.
// What it issues is valid from now, backdated by Backdate, whatever o.At.
func (o Options) Reconcile(fsys fs.FS, ca CARequest, reqs []Request, now time.Time) (*Result, error) {
	now = now.Truncate(time.Second)
	at := now
	if !o.At.IsZero() {
		at = o.At.Truncate(time.Second)
	}
	res := &Result{Certs: map[string]*Cert{}}

	cas, err := o.readCAs(fsys)
	if err != nil {
		return nil, err
	}
	reseal := false
	if o.Seal != nil {
		if reseal, err = o.recipientsChanged(fsys); err != nil {
			return nil, err
		}
	}
	issuer, issuerKey := cas.issuer()
	if cas.cur != nil {
		if t := KeyTypeOf(cas.cur.PublicKey); t != ca.Key {
			res.Warnings = append(res.Warnings, fmt.Sprintf("ca: the CA key is %s and the inventory asks for %s; the CA is kept (a CA is never replaced silently)", t, ca.Key))
		}
		if left := issuer.NotAfter.Sub(at); left > 0 && !at.Before(CARenewalTime(issuer)) && cas.phase == PhaseNone {
			res.Warnings = append(res.Warnings, fmt.Sprintf("ca: the CA expires on %s (in %s), and no certificate outlives it: rotate it (tlsgen rotate-ca start)", issuer.NotAfter.UTC().Format(time.DateOnly), FormatDuration(left)))
		}
	}

	// Decide first, so a missing CA key is reported before any work. Reading
	// and checking a thousand certificates (a signature each) is spread
	// over the cores; the results keep the requests' order.
	whys := make([]reason, len(reqs))
	reasons := make([]string, len(reqs))
	warnings := make([]string, len(reqs))
	stored := make([]*storedCert, len(reqs))
	errs := make([]error, len(reqs))
	parallel(len(reqs), func(i int) {
		if stored[i], errs[i] = o.readStored(fsys, reqs[i]); errs[i] == nil {
			whys[i], warnings[i] = decide(reqs[i], issuer, stored[i], at, now)
			reasons[i] = whys[i].text
		}
	})
	var due []int
	for i := range reqs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if warnings[i] != "" {
			res.Warnings = append(res.Warnings, warnings[i])
		}
		if reasons[i] != "" {
			due = append(due, i)
		}
	}
	res.CA, res.Next, res.Issuer, res.Phase, res.CAPEM = cas.cur, cas.next, issuer, cas.phase, cas.bundle()
	if o.DryRun {
		for i, req := range reqs {
			if sc := stored[i]; sc.cert != nil {
				res.Certs[req.Name] = &Cert{Cert: sc.cert, CertPEM: sc.certPEM, KeyPEM: sc.key.pem, KeyErr: sc.key.openErr}
			}
			if reasons[i] != "" {
				res.Due = append(res.Due, Renewal{Name: req.Name, Reason: reasons[i], Why: whys[i].why, RenewAt: whys[i].renewAt})
			}
		}
		return res, nil
	}
	if issuer != nil && len(due) > 0 {
		r := reqs[due[0]]
		if !issuer.NotAfter.After(now) {
			return nil, &FileError{cas.issuerCertFile(), fmt.Errorf("the CA %q expired on %s and can sign nothing, and %s needs a new certificate (%s): rotate the CA (tlsgen rotate-ca start), or %s", issuer.Subject.CommonName, issuer.NotAfter.UTC().Format(time.DateOnly), r.Name, reasons[due[0]], newCA)}
		}
		if issuerKey.key == nil {
			if issuerKey.exists {
				return nil, &LockedError{Path: issuerKey.path + SealedSuffix, Reason: fmt.Sprintf("signing a new certificate for %s (%s)", r.Name, reasons[due[0]]), Err: issuerKey.openErr}
			}
			return nil, &FileError{issuerKey.path, fmt.Errorf("missing, and %s needs a new certificate (%s); restore the CA key, or %s", r.Name, reasons[due[0]], newCA)}
		}
	}

	// One round of key generation for the CA and every due certificate.
	var types []KeyType
	if cas.cur == nil {
		types = append(types, ca.Key)
	}
	for _, i := range due {
		types = append(types, reqs[i].Key)
	}
	keys, err := generateKeys(types)
	if err != nil {
		return nil, err
	}
	signer := issuerKey.key
	if cas.cur == nil {
		signer, keys = keys[0], keys[1:]
		if issuer, err = createCA(ca, signer, now); err != nil {
			return nil, fmt.Errorf("creating the CA: %w", err)
		}
		caFiles, err := o.caFiles(CACertFile, CAKeyFile, issuer, signer)
		if err != nil {
			return nil, err
		}
		res.Writes = append(res.Writes, caFiles...)
		res.Events = append(res.Events, Event{Name: "ca", Action: "created", Reason: "no CA yet"})
		cas.cur, cas.curPEM = issuer, EncodeCert(issuer)
		res.CA, res.Issuer, res.CAPEM = issuer, issuer, cas.bundle()
	} else {
		if err := res.migrate(o, cas.curKey, reseal, "ca"); err != nil {
			return nil, err
		}
		if cas.next != nil {
			if err := res.migrate(o, cas.nextKey, reseal, "ca-next"); err != nil {
				return nil, err
			}
		}
	}

	for i, req := range reqs {
		if reasons[i] == "" {
			k := stored[i].key
			res.Certs[req.Name] = &Cert{Cert: stored[i].cert, CertPEM: stored[i].certPEM, KeyPEM: k.pem, KeyErr: k.openErr}
			if err := res.migrate(o, k, reseal, req.Name); err != nil {
				return nil, err
			}
		} else {
			key := keys[0]
			keys = keys[1:]
			c, err := issue(req, issuer, signer, key, now)
			if err != nil {
				return nil, fmt.Errorf("%s: issuing %s certificate: %w", req.Name, req.Usage.role(), err)
			}
			if c.NotAfter.Before(c.NotBefore.Add(req.Validity)) {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: valid until %s only, when the CA expires, not for %s: rotate the CA (tlsgen rotate-ca start)", req.Name, c.NotAfter.UTC().Format(time.DateOnly), FormatDuration(req.Validity)))
			}
			keyPEM, err := EncodeKey(key)
			if err != nil {
				return nil, err
			}
			certPEM := EncodeCert(c)
			res.Certs[req.Name] = &Cert{Cert: c, CertPEM: certPEM, KeyPEM: keyPEM, Issued: true}
			keyFiles, err := o.keyFiles(req.KeyFile, keyPEM, stored[i].key)
			if err != nil {
				return nil, err
			}
			res.Writes = append(res.Writes, File{Path: req.CertFile, Data: certPEM})
			res.Writes = append(res.Writes, keyFiles...)
			action := "issued"
			if stored[i].cert != nil {
				action = "renewed"
			}
			res.Events = append(res.Events, Event{Name: req.Name, Action: action, Reason: reasons[i]})
		}
		if req.CAFile != "" && string(stored[i].caPEM) != string(res.CAPEM) {
			res.Writes = append(res.Writes, File{Path: req.CAFile, Data: res.CAPEM})
		}
	}
	// The record of whom the keys are sealed for.
	switch record, err := readOptional(fsys, RecipientsFile); {
	case err != nil:
		return nil, err
	case o.Seal != nil && string(record) != o.recipientsRecord():
		res.Writes = append(res.Writes, File{Path: RecipientsFile, Data: []byte(o.recipientsRecord())})
	case o.Seal == nil && record != nil:
		res.Writes = append(res.Writes, File{Path: RecipientsFile, Delete: true})
	}
	slices.SortFunc(res.Writes, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return res, nil
}

// migrate adds the writes and the event that bring k, a key that stays, to
// how o keeps keys.
func (res *Result) migrate(o Options, k *storedKey, reseal bool, name string) error {
	files, event, err := o.migrate(k, reseal, name)
	if err != nil {
		return err
	}
	res.Writes = append(res.Writes, files...)
	if event != nil {
		res.Events = append(res.Events, *event)
	}
	return nil
}

func readCACert(fsys fs.FS, p string) (*x509.Certificate, []byte, error) {
	data, err := fs.ReadFile(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, &FileError{p, err}
	}
	certs, err := ParseCerts(data)
	if err != nil {
		return nil, nil, &FileError{p, err}
	}
	if len(certs) != 1 {
		return nil, nil, &FileError{p, fmt.Errorf("holds %d certificates, expected the CA alone", len(certs))}
	}
	if err := canSign(certs[0]); err != nil {
		return nil, nil, &FileError{p, fmt.Errorf("%q cannot sign certificates: %w", certs[0].Subject.CommonName, err)}
	}
	return certs[0], data, nil
}

// oidKeyUsage is the keyUsage extension (RFC 5280 4.2.1.3).
var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// canSign tells why c may not sign certificates, as RFC 5280 has it and as
// x509.Certificate.CheckSignatureFrom checks it: a CA accepted here whose
// signatures fail that check would have every certificate it signs found
// "not signed by the current CA", and re-issued, at every render.
func canSign(c *x509.Certificate) error {
	// 4.2.1.9: the cA boolean asserts that the key may verify certificate
	// signatures; a certificate without basic constraints (v1 among them)
	// is no CA.
	if !c.BasicConstraintsValid {
		return errors.New("it has no basic constraints marking it a CA")
	}
	if !c.IsCA {
		return errors.New("its basic constraints say it is not a CA")
	}
	// 4.2.1.3: when keyUsage is present, keyCertSign must be set for the
	// key to verify certificate signatures. An absent extension restricts
	// nothing: openssl's default v3_ca leaves it out, and Go and OpenSSL
	// accept such a CA.
	if slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidKeyUsage) }) &&
		c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("its key usage lacks keyCertSign (it has %s)", keyUsageNames(c.KeyUsage))
	}
	return nil
}

// keyUsageNames writes a key usage with RFC 5280's names for its bits.
func keyUsageNames(u x509.KeyUsage) string {
	names := []string{"digitalSignature", "contentCommitment", "keyEncipherment", "dataEncipherment",
		"keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"}
	var have []string
	for i, n := range names {
		if u&(1<<i) != 0 {
			have = append(have, n)
		}
	}
	if len(have) == 0 {
		return "none"
	}
	return strings.Join(have, ", ")
}

type storedCert struct {
	cert           *x509.Certificate
	key            *storedKey
	certPEM, caPEM []byte
}

// readStored reads what is stored for req. Missing files are not an error
// (they are issued); unreadable or mismatched ones are.
func (o Options) readStored(fsys fs.FS, req Request) (*storedCert, error) {
	sc := &storedCert{}
	read := func(p string) ([]byte, error) { return readOptional(fsys, p) }
	var err error
	if sc.certPEM, err = read(req.CertFile); err != nil {
		return nil, err
	}
	if sc.key, err = o.readKey(fsys, req.KeyFile); err != nil {
		return nil, err
	}
	if req.CAFile != "" {
		if sc.caPEM, err = read(req.CAFile); err != nil {
			return nil, err
		}
	}
	if sc.certPEM != nil {
		certs, err := ParseCerts(sc.certPEM)
		if err != nil {
			return nil, &FileError{req.CertFile, err}
		}
		sc.cert = certs[0]
	}
	if sc.cert != nil && sc.key.key != nil && !Matches(sc.key.key, sc.cert.PublicKey) {
		return nil, &FileError{req.KeyFile, fmt.Errorf("does not match the certificate in %s; if the key is lost, remove both files to issue a new pair", req.CertFile)}
	}
	return sc, nil
}

// decide returns why req's stored certificate cannot be reused, or the
// zero reason when it can: due-ness is judged at at, and a certificate that is not valid
// yet at now (issued for a later time) is issued again. The reasons are
// what the CLI prints.
func decide(req Request, ca *x509.Certificate, sc *storedCert, at, now time.Time) (r reason, warning string) {
	switch {
	case sc.cert == nil && !sc.key.exists:
		return reason{"no certificate yet", WhyMissing, time.Time{}}, ""
	case sc.cert == nil:
		return reason{path.Base(req.CertFile) + " missing", WhyMissing, time.Time{}}, ""
	case !sc.key.exists:
		return reason{path.Base(req.KeyFile) + " missing", WhyMissing, time.Time{}}, ""
	case ca == nil:
		return reason{"no CA yet", WhyMissing, time.Time{}}, ""
	}
	c := sc.cert
	if err := c.CheckSignatureFrom(ca); err != nil || string(c.RawIssuer) != string(ca.RawSubject) {
		return reason{fmt.Sprintf("not signed by the current CA %q", ca.Subject.CommonName), WhyDue, time.Time{}}, ""
	}
	if t := KeyTypeOf(c.PublicKey); t != req.Key {
		return reason{fmt.Sprintf("key type changed from %s to %s", t, req.Key), WhyMismatch, time.Time{}}, ""
	}
	// tlsgen issues DNS names only, so any stored IP address is one to drop.
	var changed []string
	if added, removed := diff(c.DNSNames, req.DNSNames); len(added)+len(removed) > 0 {
		changed = append(changed, "dnsNames changed ("+describeDiff(added, removed)+")")
	}
	if len(c.IPAddresses) > 0 {
		ips := make([]string, len(c.IPAddresses))
		for i, ip := range c.IPAddresses {
			ips[i] = ip.String()
		}
		changed = append(changed, "IP addresses changed ("+describeDiff(nil, ips)+")")
	}
	// Certificates issued before subjectCommonName carry the long name
	// some clients refuse. Otherwise the CN is not compared: clients match
	// the DNS names, and a hand-made certificate with the right names and
	// another CN is reused as it always was.
	if utf8.RuneCountInString(c.Subject.CommonName) > ubCommonName {
		changed = append(changed, fmt.Sprintf("commonName longer than %d characters (RFC 5280 ub-common-name)", ubCommonName))
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{req.Usage.extKeyUsage()}) || len(c.UnknownExtKeyUsage) > 0 {
		changed = append(changed, fmt.Sprintf("extended key usage is %s, want %s only", extKeyUsageNames(c), req.Usage))
	}
	if req.Usage == ClientAuth && c.Subject.CommonName != req.CommonName {
		changed = append(changed, fmt.Sprintf("commonName changed from %q to %q", c.Subject.CommonName, req.CommonName))
	}
	if len(changed) > 0 {
		return reason{strings.Join(changed, "; "), WhyMismatch, time.Time{}}, ""
	}
	if c.NotBefore.After(now) {
		return reason{fmt.Sprintf("not valid until %s: it was issued for a later time", c.NotBefore.UTC().Format(time.RFC3339)), WhyNotYetValid, time.Time{}}, ""
	}
	left := c.NotAfter.Sub(at)
	if left <= 0 {
		return reason{fmt.Sprintf("expired %s ago", FormatDuration(-left)), WhyExpired, time.Time{}}, ""
	}
	if Due(c, req.RenewBefore, at) {
		// A certificate cannot outlive its CA: when the CA expires first,
		// a new certificate would expire no later, so keep it and warn.
		if !ca.NotAfter.After(c.NotAfter) {
			return reason{}, fmt.Sprintf("%s: expires in %s with the CA: rotate the CA (tlsgen rotate-ca start)", req.Name, FormatDuration(left))
		}
		return reason{fmt.Sprintf("expires in %s, renewBefore %s", FormatDuration(left), FormatDuration(req.RenewBefore)), WhyDue, RenewalTime(c.NotBefore, c.NotAfter, req.RenewBefore)}, ""
	}
	return reason{}, ""
}

func diff(have, want []string) (added, removed []string) {
	for _, n := range want {
		if !slices.Contains(have, n) {
			added = append(added, n)
		}
	}
	for _, n := range have {
		if !slices.Contains(want, n) {
			removed = append(removed, n)
		}
	}
	return added, removed
}

func describeDiff(added, removed []string) string {
	var parts []string
	for _, n := range added {
		parts = append(parts, "+"+n)
	}
	for _, n := range removed {
		parts = append(parts, "-"+n)
	}
	if len(parts) > 4 {
		parts = append(parts[:4], fmt.Sprintf("and %d more", len(parts)-4))
	}
	return strings.Join(parts, ", ")
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func createCA(req CARequest, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: req.CommonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(req.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs servers and clients, never another CA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ubCommonName is RFC 5280's upper bound on a commonName, in characters
// (Appendix A.1, ub-common-name INTEGER ::= 64). A Service's FQDN, or the
// shared wildcard, passes it with a long namespace or Service name, and
// some clients then refuse the certificate.
const ubCommonName = 64

// subjectCommonName is the CN of req's certificate: req.CommonName, or none
// when it is longer than ub-common-name. The CN names the certificate for
// people only: a client matches the host against the dNSName SANs and
// looks at the CN only when there is none (RFC 6125 6.4.4; libpq's
// verify-full and OpenSSL's X509_check_host, which Redis clients use, do
// so; Go ignores the CN since 1.15), and every name is in DNSNames. So the
// CN is left empty rather than replaced by the first DNS name that fits:
// that would label the shared PostgreSQL certificate with one database's
// Service. With an empty subject, RFC 5280 4.1.2.6 makes the SAN extension
// critical, which x509.CreateCertificate does.
func subjectCommonName(req Request) string {
	if utf8.RuneCountInString(req.CommonName) > ubCommonName {
		return ""
	}
	return req.CommonName
}

// extKeyUsageNames writes c's extended key usages as RFC 5280 names them.
func extKeyUsageNames(c *x509.Certificate) string {
	var names []string
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			names = append(names, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			names = append(names, "clientAuth")
		case x509.ExtKeyUsageAny:
			names = append(names, "anyExtendedKeyUsage")
		default:
			names = append(names, fmt.Sprintf("usage %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		names = append(names, oid.String())
	}
	if len(names) == 0 {
		return "absent"
	}
	return strings.Join(names, ", ")
}

func issue(req Request, ca *x509.Certificate, caKey, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	if req.Usage == ClientAuth && subjectCommonName(req) == "" {
		return nil, fmt.Errorf("a client certificate needs a common name of 1 to %d characters, the user it proves", ubCommonName)
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter // a certificate cannot outlive its CA
	}
	usage := x509.KeyUsageDigitalSignature
	if KeyTypeOf(key.Public())[:3] == "rsa" && req.Usage == ServerAuth {
		usage |= x509.KeyUsageKeyEncipherment // RSA key exchange in TLS 1.2 (RFC 5246 7.4.2); a client only signs
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: subjectCommonName(req)},
		DNSNames:     req.DNSNames,
		NotBefore:    now.Add(-Backdate),
		NotAfter:     notAfter,
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{req.Usage.extKeyUsage()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
