package pki

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// The next CA, beside the current one while a rotation is under way, and
// the file that says how far the rotation has come.
const (
	NextCACertFile = "ca-next/ca-cert.pem"
	NextCAKeyFile  = "ca-next/ca-key.pem"
	RotationFile   = "ca-rotation.txt"
)

// Backdate is how long before now the certificates tlsgen issues start
// being valid: clocks in a cluster drift.
const Backdate = 5 * time.Minute

// Year is 365 days.
const Year = 365 * Day

// Phase is how far a CA rotation has come.
type Phase string

// The phases of a CA rotation, after `tlsgen rotate-ca start` and `switch`.
// PhaseNone is no rotation: finish returns to it.
const (
	PhaseNone     Phase = ""
	PhaseStarted  Phase = "started"
	PhaseSwitched Phase = "switched"
)

// Renewal is a certificate a render would issue, and why: Reason in words,
// Why as a kind, and RenewAt the day it entered its renewal window when
// that is the reason.
type Renewal struct {
	Name, Reason string
	Why          Why
	RenewAt      time.Time
}

// cas is the CAs the PKI directory holds.
type cas struct {
	cur, next       *x509.Certificate
	curPEM, nextPEM []byte
	curKey, nextKey *storedKey
	phase           Phase
}

// readCAs reads the current CA, and the next one during a rotation, with
// their keys (opened only when an identity is at hand).
func (o Options) readCAs(fsys fs.FS) (*cas, error) {
	c := &cas{}
	var err error
	if c.cur, c.curPEM, err = readCACert(fsys, CACertFile); err != nil {
		return nil, err
	}
	if c.curKey, err = o.readKey(fsys, CAKeyFile); err != nil {
		return nil, err
	}
	if c.curKey.exists && c.cur == nil {
		return nil, &FileError{CAKeyFile, fmt.Errorf("found without %s: refusing to create a new CA beside an existing key; restore %s or remove %s", CACertFile, CACertFile, CAKeyFile)}
	}
	if c.curKey.key != nil && !Matches(c.curKey.key, c.cur.PublicKey) {
		return nil, &FileError{CAKeyFile, fmt.Errorf("does not match the certificate in %s", CACertFile)}
	}
	phase, err := readOptional(fsys, RotationFile)
	if err != nil {
		return nil, err
	}
	switch c.phase = Phase(strings.TrimSpace(string(phase))); c.phase {
	case PhaseNone:
		return c, nil
	case PhaseStarted, PhaseSwitched:
	default:
		return nil, &FileError{RotationFile, fmt.Errorf("%q is not a phase of a CA rotation (%s or %s)", c.phase, PhaseStarted, PhaseSwitched)}
	}
	if c.cur == nil {
		return nil, &FileError{RotationFile, fmt.Errorf("a rotation is under way, and there is no CA in %s", CACertFile)}
	}
	if c.next, c.nextPEM, err = readCACert(fsys, NextCACertFile); err != nil {
		return nil, err
	}
	if c.next == nil {
		return nil, &FileError{NextCACertFile, fmt.Errorf("missing, and %s says the rotation is %s", RotationFile, c.phase)}
	}
	if c.nextKey, err = o.readKey(fsys, NextCAKeyFile); err != nil {
		return nil, err
	}
	if c.nextKey.key != nil && !Matches(c.nextKey.key, c.next.PublicKey) {
		return nil, &FileError{NextCAKeyFile, fmt.Errorf("does not match the certificate in %s", NextCACertFile)}
	}
	return c, nil
}

// issuer is the CA that signs, and its key: the next one once a rotation
// has switched.
func (c *cas) issuer() (*x509.Certificate, *storedKey) {
	if c.phase == PhaseSwitched {
		return c.next, c.nextKey
	}
	return c.cur, c.curKey
}

func (c *cas) issuerCertFile() string {
	if c.phase == PhaseSwitched {
		return NextCACertFile
	}
	return CACertFile
}

// bundle is what clients and servers trust: the current CA, and the next
// during a rotation.
func (c *cas) bundle() []byte {
	return append(slices.Clip(c.curPEM), c.nextPEM...)
}

// caFiles are the writes that store a new CA.
func (o Options) caFiles(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) ([]File, error) {
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	keyFiles, err := o.keyFiles(keyFile, keyPEM, nil)
	if err != nil {
		return nil, err
	}
	return append([]File{{Path: certFile, Data: EncodeCert(cert)}}, keyFiles...), nil
}

// PhaseError is a rotation command run out of order.
type PhaseError struct {
	Phase Phase  // where the rotation is
	Want  string // the command that was run
}

func (e *PhaseError) Error() string {
	var where, next string
	switch e.Phase {
	case PhaseNone:
		where, next = "no CA rotation is under way", "tlsgen rotate-ca start"
	case PhaseStarted:
		where, next = "the rotation has started: every bundle trusts both CAs, and the old one still signs", "tlsgen rotate-ca switch, once the bundles that trust both are rolled out"
	case PhaseSwitched:
		where, next = "the rotation has switched: the new CA signs", "tlsgen rotate-ca finish, once the re-issued certificates are rolled out"
	}
	return fmt.Sprintf("rotate-ca %s: %s; the next step is %s", e.Want, where, next)
}

// RotateStart creates the next CA beside the current one: after it, every
// bundle a render writes trusts both, and the current one still signs. The
// new CA's name tells the two apart in every client's trust store.
func (o Options) RotateStart(fsys fs.FS, ca CARequest, now time.Time) ([]File, error) {
	c, err := o.readCAs(fsys)
	if err != nil {
		return nil, err
	}
	if c.cur == nil {
		return nil, &FileError{CACertFile, fmt.Errorf("missing: there is no CA to rotate yet (tlsgen render creates one)")}
	}
	if c.phase != PhaseNone {
		return nil, &PhaseError{Phase: c.phase, Want: "start"}
	}
	now = now.Truncate(time.Second)
	keys, err := generateKeys([]KeyType{ca.Key})
	if err != nil {
		return nil, err
	}
	req := ca
	req.CommonName = fmt.Sprintf("%s %s", ca.CommonName, now.UTC().Format("2006-01-02"))
	next, err := createCA(req, keys[0], now)
	if err != nil {
		return nil, fmt.Errorf("creating the next CA: %w", err)
	}
	files, err := o.caFiles(NextCACertFile, NextCAKeyFile, next, keys[0])
	if err != nil {
		return nil, err
	}
	return append(files, File{Path: RotationFile, Data: []byte(PhaseStarted + "\n")}), nil
}

// RotateSwitch makes the next CA the one that signs: the render after it
// re-issues every certificate from it, and every bundle still trusts both.
func (o Options) RotateSwitch(fsys fs.FS) ([]File, error) {
	c, err := o.readCAs(fsys)
	if err != nil {
		return nil, err
	}
	if c.phase != PhaseStarted {
		return nil, &PhaseError{Phase: c.phase, Want: "switch"}
	}
	return []File{{Path: RotationFile, Data: []byte(PhaseSwitched + "\n")}}, nil
}

// RotateFinish makes the next CA the CA and drops the old one: the render
// after it writes bundles that trust the new one alone. Every certificate
// of reqs must be signed by the new CA already (the render after switch
// does that); the keys are moved as they are stored, sealed or not.
func (o Options) RotateFinish(fsys fs.FS, reqs []Request) ([]File, error) {
	c, err := o.readCAs(fsys)
	if err != nil {
		return nil, err
	}
	if c.phase != PhaseSwitched {
		return nil, &PhaseError{Phase: c.phase, Want: "finish"}
	}
	for _, req := range reqs {
		data, err := readOptional(fsys, req.CertFile)
		if err != nil {
			return nil, err
		}
		certs, err := ParseCerts(data)
		if err != nil || certs[0].CheckSignatureFrom(c.next) != nil {
			return nil, &FileError{req.CertFile, fmt.Errorf("not signed by the new CA %q yet: run tlsgen render after rotate-ca switch, roll it out, then finish", c.next.Subject.CommonName)}
		}
	}
	files := []File{
		{Path: CACertFile, Data: c.nextPEM},
		{Path: NextCACertFile, Delete: true},
		{Path: RotationFile, Delete: true},
	}
	k := c.nextKey
	switch {
	case k.sealed != nil:
		files = append(files, File{Path: CAKeyFile + SealedSuffix, Data: k.sealed, Private: true}, File{Path: NextCAKeyFile + SealedSuffix, Delete: true})
		if c.curKey.plain {
			files = append(files, File{Path: CAKeyFile, Delete: true})
		}
	case k.plain:
		files = append(files, File{Path: CAKeyFile, Data: k.pem, Private: true}, File{Path: NextCAKeyFile, Delete: true})
		if c.curKey.sealed != nil {
			files = append(files, File{Path: CAKeyFile + SealedSuffix, Delete: true})
		}
	default:
		return nil, &FileError{NextCAKeyFile, fmt.Errorf("missing: the new CA's key is the one to keep")}
	}
	return files, nil
}
