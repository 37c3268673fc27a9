package pki

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// SealedSuffix is added to a key file's name when the key is kept
// encrypted: ca/ca-key.pem.age.
const SealedSuffix = ".age"

// IsKeyFile reports whether a file of the PKI directory holds a private
// key, by its name: every key tlsgen writes (the CAs', the servers', the
// clients', the probe's, stale ones too) is named *-key.pem, sealed or not.
func IsKeyFile(name string) bool {
	return strings.HasSuffix(strings.TrimSuffix(name, SealedSuffix), "-key.pem")
}

// RecipientsFile records, in the PKI directory, whom the sealed keys are
// encrypted for, one recipient a line, so that a change of recipients
// seals every key again.
const RecipientsFile = "age-recipients.txt"

// Options says how Reconcile keeps private keys. The zero value keeps them
// in plaintext.
type Options struct {
	// Seal encrypts a private key for storage: with it, every key is kept
	// sealed, in KeyFile+SealedSuffix; without it, in plaintext.
	Seal func(keyPEM []byte) ([]byte, error)
	// Open decrypts a sealed key. When no identity is at hand, or none
	// opens the key, its error wraps ErrNoIdentity: a key that is only read
	// to be shipped is then left out (Cert.KeyPEM is nil), and one that is
	// needed, the CA's to sign, stops the reconcile with a *LockedError.
	// Any other error is a damaged file.
	Open func(sealed []byte) ([]byte, error)
	// Recipients are whom Seal encrypts for.
	Recipients []string
	// At is the time due-ness is judged at; zero is now. What is issued is
	// valid from now all the same.
	At time.Time
	// DryRun issues nothing, generates no key and writes nothing: Result.Due
	// says what a render would issue. status and check run so.
	DryRun bool
}

// ErrNoIdentity is a sealed key that no identity at hand opens.
var ErrNoIdentity = errors.New("no identity to decrypt the key")

// LockedError is work that needs a sealed private key that could not be
// opened: no identity at hand, or none that matches.
type LockedError struct {
	Path   string // the sealed key, in the PKI directory
	Reason string // the work that needs it
	Err    error  // why it could not be opened
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s: %s needs this key, and it could not be decrypted: %v", e.Path, e.Reason, e.Err)
}
func (e *LockedError) Unwrap() error { return e.Err }

// storedKey is a private key as the PKI directory holds it.
type storedKey struct {
	path     string // KeyFile
	plain    bool   // stored in plaintext at path
	sealed   []byte // stored sealed at path+SealedSuffix
	pem      []byte // the plaintext: as stored, or opened
	key      crypto.Signer
	openErr  error // why a sealed key is not open
	reopened bool  // opened by Open
	exists   bool
}

// readKey reads the key stored at p, in plaintext or sealed, and opens a
// sealed one when it can.
func (o Options) readKey(fsys fs.FS, p string) (*storedKey, error) {
	k := &storedKey{path: p}
	plain, err := readOptional(fsys, p)
	if err != nil {
		return nil, err
	}
	sealed, err := readOptional(fsys, p+SealedSuffix)
	if err != nil {
		return nil, err
	}
	switch {
	case plain != nil && sealed != nil:
		return nil, &FileError{p, fmt.Errorf("stored both in plaintext and sealed in %s; remove the one that is not the key of %s", p+SealedSuffix, "its certificate")}
	case plain != nil:
		k.plain, k.pem, k.exists = true, plain, true
	case sealed != nil:
		k.sealed, k.exists = sealed, true
		if o.Open == nil {
			k.openErr = ErrNoIdentity
			break
		}
		if k.pem, err = o.Open(sealed); err != nil {
			if !errors.Is(err, ErrNoIdentity) {
				return nil, &FileError{p + SealedSuffix, err}
			}
			k.pem, k.openErr = nil, err
			break
		}
		k.reopened = true
	}
	if k.pem != nil {
		if k.key, err = ParseKey(k.pem); err != nil {
			name := p
			if k.reopened {
				name = p + SealedSuffix
			}
			return nil, &FileError{name, err}
		}
	}
	return k, nil
}

func readOptional(fsys fs.FS, p string) ([]byte, error) {
	data, err := fs.ReadFile(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{p, err}
	}
	return data, nil
}

// keyFiles are the writes that store keyPEM at p as o keeps keys, and
// remove the other form if it is stored.
func (o Options) keyFiles(p string, keyPEM []byte, was *storedKey) ([]File, error) {
	if o.Seal != nil {
		sealed, err := o.Seal(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: sealing the key: %w", p, err)
		}
		files := []File{{Path: p + SealedSuffix, Data: sealed, Private: true}}
		if was != nil && was.plain {
			files = append(files, File{Path: p, Delete: true})
		}
		return files, nil
	}
	files := []File{{Path: p, Data: keyPEM, Private: true}}
	if was != nil && was.sealed != nil {
		files = append(files, File{Path: p + SealedSuffix, Delete: true})
	}
	return files, nil
}

// recipientsChanged reports whether the sealed keys were sealed for other
// recipients than o's, as RecipientsFile records them.
func (o Options) recipientsChanged(fsys fs.FS) (bool, error) {
	data, err := readOptional(fsys, RecipientsFile)
	if err != nil {
		return false, err
	}
	return string(data) != o.recipientsRecord(), nil
}

func (o Options) recipientsRecord() string {
	rs := slices.Clone(o.Recipients)
	slices.Sort(rs)
	return strings.Join(rs, "\n") + "\n"
}

// migrate is the writes that bring a key that stays to how o keeps keys:
// sealed when it was plaintext (no identity needed), plaintext when it was
// sealed, sealed again for new recipients. what names it in messages and
// events.
func (o Options) migrate(k *storedKey, reseal bool, what string) ([]File, *Event, error) {
	if !k.exists {
		return nil, nil, nil
	}
	var action, doing, reason string
	switch {
	case o.Seal != nil && k.plain:
		action, doing, reason = "encrypted", "encrypting", "encryption.age is set"
	case o.Seal != nil && reseal:
		action, doing, reason = "re-encrypted", "re-encrypting", "encryption.age changed"
	case o.Seal == nil && k.sealed != nil:
		action, doing, reason = "decrypted", "decrypting", "encryption is off: the key is now stored in plaintext"
	default:
		return nil, nil, nil
	}
	if k.pem == nil {
		return nil, nil, &LockedError{Path: k.path + SealedSuffix, Reason: fmt.Sprintf("%s the key of %s (%s)", doing, what, reason), Err: k.openErr}
	}
	files, err := o.keyFiles(k.path, k.pem, k)
	if err != nil {
		return nil, nil, err
	}
	return files, &Event{Name: what, Action: action, Reason: reason}, nil
}

// ReadPair reads a certificate and its key from fsys, as Reconcile keeps
// them: the key in plaintext, or sealed and opened with o.Open. what says
// what the key is needed for, in a *LockedError when it cannot be opened.
// A missing file is a *FileError wrapping fs.ErrNotExist; a key that does
// not match the certificate is a *FileError too.
func (o Options) ReadPair(fsys fs.FS, certFile, keyFile, what string) (certPEM, keyPEM []byte, err error) {
	certPEM, err = fs.ReadFile(fsys, certFile)
	if err != nil {
		return nil, nil, &FileError{certFile, err}
	}
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, nil, &FileError{certFile, err}
	}
	k, err := o.readKey(fsys, keyFile)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !k.exists:
		return nil, nil, &FileError{keyFile, fs.ErrNotExist}
	case k.pem == nil:
		return nil, nil, &LockedError{Path: keyFile + SealedSuffix, Reason: what, Err: k.openErr}
	case !Matches(k.key, certs[0].PublicKey):
		return nil, nil, &FileError{keyFile, fmt.Errorf("does not match the certificate in %s", certFile)}
	}
	return certPEM, k.pem, nil
}
