package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ParseRecipients parses age recipients as an inventory lists them: X25519
// (age1...) and post-quantum hybrid (age1pq1...) public keys, the kinds
// age.ParseRecipients reads and sops accepts without plugins. Every bad entry
// is reported, each named by its position and, unless it looks like a secret
// key, by its text.
func ParseRecipients(strs []string) ([]age.Recipient, error) {
	var out []age.Recipient
	var errs []error
	for i, s := range strs {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			errs = append(errs, fmt.Errorf("age recipient %d is empty", i+1))
			continue
		case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
			// Never repeat a secret key in an error message.
			errs = append(errs, fmt.Errorf("age recipient %d is a secret key, not a recipient: list its public key (age-keygen -y)", i+1))
			continue
		case strings.ContainsAny(s, "\n\r"):
			errs = append(errs, fmt.Errorf("age recipient %d holds more than one line", i+1))
			continue
		}
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil {
			// age's message ("error at line 1: ...") is about a file; ours
			// names the entry.
			msg := strings.TrimPrefix(err.Error(), "error at line 1: ")
			errs = append(errs, fmt.Errorf("age recipient %d %q: %s", i+1, s, msg))
			continue
		}
		out = append(out, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ParseIdentities reads an age identity file, as age-keygen writes it:
// AGE-SECRET-KEY-1... (and AGE-SECRET-KEY-PQ-1...) lines, blank lines and
// # comments. Errors name the line, never the key.
func ParseIdentities(data []byte) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("age identities: %w", err)
	}
	return ids, nil
}

// EncryptFile encrypts plaintext for the recipients as an armored age file
// (-----BEGIN AGE ENCRYPTED FILE-----), the form `age -d` opens and sops
// stores its data key in.
func EncryptFile(plaintext []byte, recipients []age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no age recipients")
	}
	var b bytes.Buffer
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("age armor: %w", err)
	}
	return b.Bytes(), nil
}

// DecryptFile opens an age file, armored or binary, with the identities.
func DecryptFile(ciphertext []byte, identities []age.Identity) ([]byte, error) {
	if len(identities) == 0 {
		return nil, errors.New("no age identities")
	}
	var src io.Reader = bytes.NewReader(ciphertext)
	if bytes.HasPrefix(bytes.TrimLeft(ciphertext, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, identities...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, fmt.Errorf("%w of the age file", ErrNoIdentity)
		}
		return nil, fmt.Errorf("age: %w", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	return out, nil
}

// recipientString is the recipient as sops records it: the canonical
// encoding of the parsed key, or the text given.
func recipientString(r age.Recipient, given string) string {
	if s, ok := r.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.TrimSpace(given)
}
