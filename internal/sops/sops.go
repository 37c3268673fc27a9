// Package sops writes and reads Kubernetes Secrets in the SOPS format, with
// age as the only key type, and encrypts single files with age.
//
// EncryptSecret turns a Secret manifest into the document `sops -e --age R
// --encrypted-regex '^(data|stringData)$' --mac-only-encrypted` would write:
// the same values encrypted, the same `sops:` block, the same layout. The
// real sops CLI (v3.13.3) and Flux's kustomize-controller (decryption
// provider sops) decrypt it, after kustomize has rewritten the Secret's
// namespace and labels. DecryptSecret is the inverse and writes what `sops -d`
// writes. EncryptFile and DecryptFile are plain armored age files, what
// `age -d` opens, for the private keys in the PKI directory.
//
// The package performs no file IO and reads no clock: the time recorded in
// the document is an argument. Randomness (the data key, one IV per value,
// age's file keys) comes from crypto/rand: age reads it itself, and since
// Go 1.26 the standard library's crypto ignores caller-supplied randomness.
//
// # Why not the sops library
//
// github.com/getsops/sops/v3 is a CLI with a library inside. Measured for
// v3.13.3: a module requiring it has 341 modules in its graph (tlsgen's would
// go from 97 to 407), 124 of them needed to build, 198 MB of module zips,
// among them the AWS, GCP, Azure, HashiCorp Vault and Huawei Cloud SDKs; a
// tlsgen binary linking it grows from 41 MB to 110 MB. This package adds
// filippo.io/age (which sops itself uses) and 54 KB. The format is small and
// stable, so we write it ourselves and test it against the real sops binary.
// The facts come from the sops v3.13.3 source:
//
//   - Values: AES-256-GCM with a 32-byte data key and a 32-byte IV, written as
//     ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:str]; the additional
//     data is the value's path, keys joined by ":" plus a trailing ":"
//     ("data:tls.crt:"); empty strings stay empty.
//     https://github.com/getsops/sops/blob/v3.13.3/aes/cipher.go#L34
//     https://github.com/getsops/sops/blob/v3.13.3/aes/cipher.go#L141-L201
//     https://github.com/getsops/sops/blob/v3.13.3/sops.go#L549
//   - Which values: a value is encrypted when any key on its path matches
//     encrypted_regex. https://github.com/getsops/sops/blob/v3.13.3/sops.go#L437-L509
//   - MAC: SHA-512 over the plaintext values in document order, written as
//     upper-case hex and encrypted like a value with the lastmodified time
//     (RFC 3339, UTC) as additional data. With mac_only_encrypted only
//     encrypted values count, after a fixed 32-byte prefix; this is what
//     keeps the MAC valid when kustomize rewrites metadata.
//     https://github.com/getsops/sops/blob/v3.13.3/sops.go#L89-L93
//     https://github.com/getsops/sops/blob/v3.13.3/sops.go#L523-L577
//     https://github.com/getsops/sops/blob/v3.13.3/cmd/sops/common/common.go#L85-L131
//   - Metadata: a top-level `sops:` mapping appended to the document, keys
//     sorted, empty ones left out: age (a list of {enc, recipient}, enc being
//     the data key in an armored age file for that one recipient),
//     encrypted_regex, lastmodified, mac, mac_only_encrypted, version.
//     https://github.com/getsops/sops/blob/v3.13.3/stores/stores.go#L37-L109
//     https://github.com/getsops/sops/blob/v3.13.3/stores/metadata.go#L200-L287
//     https://github.com/getsops/sops/blob/v3.13.3/age/keysource.go#L163-L196
//   - Layout: go.yaml.in/yaml/v3, four-space indent, every scalar decoded and
//     encoded again. https://github.com/getsops/sops/blob/v3.13.3/stores/yaml/store.go
//
// mac_only_encrypted exists since sops v3.9.0; older sops compute the MAC over
// every value and reject these files after kustomize has added a label.
package sops

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
)

const (
	// Version is the sops release whose format this package writes and is
	// tested against; it is recorded in every document. sops compares it
	// only to decide on upgrades of old files (cmd/sops/edit.go).
	Version = "3.13.3"
	// EncryptedRegex selects the values EncryptSecret encrypts: everything
	// under a Secret's data and stringData. Metadata stays readable so that
	// kustomize can set the namespace and labels.
	EncryptedRegex = `^(data|stringData)$`
)

var (
	// ErrNotSOPS: the document has no top-level sops key.
	ErrNotSOPS = errors.New("not a SOPS document: no top-level sops key")
	// ErrNoIdentity: none of the given identities opens the data key or file.
	ErrNoIdentity = errors.New("no identity matches any recipient")
	// ErrTampered: a value fails its AES-GCM tag, or the MAC does not match.
	ErrTampered = errors.New("the file was changed after it was encrypted")
)

// macOnlyEncryptedInit starts the MAC of a mac_only_encrypted document, so
// that it never equals the MAC over all values.
// https://github.com/getsops/sops/blob/v3.13.3/sops.go#L93
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

const (
	metadataKey = "sops"
	dataKeySize = 32 // sops.go GenerateDataKey
	ivSize      = 32 // aes/cipher.go nonceSize
	indent      = 4  // stores/yaml/store.go IndentDefault
)

// metadata is the sops block. Field order is key order: sops writes the
// block through a sorted map.
type metadata struct {
	Age                     []ageKey `yaml:"age,omitempty"`
	EncryptedCommentRegex   string   `yaml:"encrypted_comment_regex,omitempty"`
	EncryptedRegex          string   `yaml:"encrypted_regex,omitempty"`
	EncryptedSuffix         string   `yaml:"encrypted_suffix,omitempty"`
	LastModified            string   `yaml:"lastmodified"`
	MAC                     string   `yaml:"mac"`
	MACOnlyEncrypted        bool     `yaml:"mac_only_encrypted,omitempty"`
	UnencryptedCommentRegex string   `yaml:"unencrypted_comment_regex,omitempty"`
	UnencryptedRegex        string   `yaml:"unencrypted_regex,omitempty"`
	UnencryptedSuffix       string   `yaml:"unencrypted_suffix,omitempty"`
	Version                 string   `yaml:"version"`
}

type ageKey struct {
	Enc       string `yaml:"enc"`
	Recipient string `yaml:"recipient"`
}

// EncryptSecret returns manifest, a single YAML document such as a Secret,
// as a SOPS document encrypted for the age recipients: the values under data
// and stringData encrypted, everything else (comments included) readable.
//
// Keys are sorted in every mapping, which is a no-op for what tlsgen writes.
// The MAC depends on the order of the values, and Flux's kustomize-controller
// re-serializes the Secret as JSON, with sorted keys, before it decrypts:
// https://github.com/fluxcd/kustomize-controller/blob/186fb3b29138ce82ff61ba1a9370b96a3dd598fe/internal/decryptor/decryptor.go#L644-L649
func EncryptSecret(manifest []byte, recipients []string, now time.Time) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no age recipients")
	}
	parsed, err := ParseRecipients(recipients)
	if err != nil {
		return nil, err
	}
	doc, err := parseDocument(manifest)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if i := indexOfKey(root, metadataKey); i >= 0 {
		return nil, errors.New("the document already has a top-level sops key: it is encrypted")
	}
	sortMappings(root)

	dataKey := make([]byte, dataKeySize)
	rand.Read(dataKey)
	w := &walker{
		encrypt: true,
		rules:   rules{encryptedRegex: regexp.MustCompile(EncryptedRegex)},
		macOnly: true,
		key:     dataKey,
		mac:     sha512.New(),
	}
	w.mac.Write(macOnlyEncryptedInit)
	if err := w.mapping(root, nil); err != nil {
		return nil, err
	}

	lastModified := now.UTC().Format(time.RFC3339)
	mac, err := encryptValue(dataKey, fmt.Appendf(nil, "%X", w.mac.Sum(nil)), "str", lastModified)
	if err != nil {
		return nil, err
	}
	md := metadata{
		EncryptedRegex:   EncryptedRegex,
		LastModified:     lastModified,
		MAC:              mac,
		MACOnlyEncrypted: true,
		Version:          Version,
	}
	for i, r := range parsed {
		enc, err := EncryptFile(dataKey, []age.Recipient{r})
		if err != nil {
			return nil, fmt.Errorf("recipient %q: encrypting the data key: %w", recipients[i], err)
		}
		md.Age = append(md.Age, ageKey{Enc: string(enc), Recipient: recipientString(r, recipients[i])})
	}
	var key, value yaml.Node
	if err := key.Encode(metadataKey); err != nil {
		return nil, err
	}
	if err := value.Encode(md); err != nil {
		return nil, err
	}
	root.Content = append(root.Content, &key, &value)
	return emit(doc)
}

// DecryptSecret returns the plaintext of a SOPS document encrypted for age,
// as `sops -d` writes it, after checking every value's AES-GCM tag and the
// document's MAC. It reads documents written by EncryptSecret and by the sops
// CLI with age recipients and path rules (encrypted_regex and the like); it
// refuses the comment rules and Shamir key groups.
func DecryptSecret(doc []byte, identities []age.Identity) ([]byte, error) {
	if len(identities) == 0 {
		return nil, errors.New("no age identities")
	}
	d, err := parseDocument(doc)
	if err != nil {
		return nil, err
	}
	root := d.Content[0]
	i := indexOfKey(root, metadataKey)
	if i < 0 {
		return nil, ErrNotSOPS
	}
	mdNode := root.Content[i+1]
	root.Content = slices.Delete(root.Content, i, i+2)
	md, r, err := readMetadata(mdNode)
	if err != nil {
		return nil, err
	}
	lastModified, err := time.Parse(time.RFC3339, md.LastModified)
	if err != nil {
		return nil, fmt.Errorf("sops metadata: lastmodified: %w", err)
	}
	dataKey, err := openDataKey(md.Age, identities)
	if err != nil {
		return nil, err
	}

	w := &walker{rules: r, macOnly: md.MACOnlyEncrypted, key: dataKey, mac: sha512.New()}
	if w.macOnly {
		w.mac.Write(macOnlyEncryptedInit)
	}
	if err := w.mapping(root, nil); err != nil {
		return nil, err
	}
	// sops formats the parsed time again: the additional data is the
	// canonical RFC 3339 text, not the text in the file.
	want, typ, err := decryptValue(dataKey, md.MAC, lastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("MAC mismatch: the MAC or lastmodified was changed: %w", ErrTampered)
	}
	if got := fmt.Sprintf("%X", w.mac.Sum(nil)); typ != "str" || string(want) != got {
		return nil, fmt.Errorf("MAC mismatch: a value was added, removed, emptied or reordered: %w", ErrTampered)
	}
	return emit(d)
}

// readMetadata decodes the sops block and the rules that choose which values
// are encrypted.
func readMetadata(n *yaml.Node) (metadata, rules, error) {
	var md metadata
	if n.Kind != yaml.MappingNode {
		return md, rules{}, errors.New("sops metadata: not a mapping")
	}
	if err := n.Decode(&md); err != nil {
		return md, rules{}, fmt.Errorf("sops metadata: %w", err)
	}
	if md.EncryptedCommentRegex != "" || md.UnencryptedCommentRegex != "" {
		return md, rules{}, errors.New("sops metadata: encrypted_comment_regex and unencrypted_comment_regex are not supported")
	}
	if len(md.Age) == 0 {
		var others []string
		for i := 0; i < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "key_groups", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault":
				others = append(others, k)
			}
		}
		if len(others) > 0 {
			return md, rules{}, fmt.Errorf("sops metadata: no age recipients (the data key is held by %s, which this package does not read)", strings.Join(others, ", "))
		}
		return md, rules{}, errors.New("sops metadata: no age recipients")
	}
	r := rules{unencryptedSuffix: md.UnencryptedSuffix, encryptedSuffix: md.EncryptedSuffix}
	for _, re := range []struct {
		name, expr string
		dst        **regexp.Regexp
	}{
		{"encrypted_regex", md.EncryptedRegex, &r.encryptedRegex},
		{"unencrypted_regex", md.UnencryptedRegex, &r.unencryptedRegex},
	} {
		if re.expr == "" {
			continue
		}
		compiled, err := regexp.Compile(re.expr)
		if err != nil {
			return md, rules{}, fmt.Errorf("sops metadata: %s: %w", re.name, err)
		}
		*re.dst = compiled
	}
	return md, r, nil
}

// openDataKey decrypts the data key from the first age stanza one of the
// identities opens, as sops tries its master keys in turn.
func openDataKey(keys []ageKey, identities []age.Identity) ([]byte, error) {
	var recipients []string
	var errs []error
	for _, k := range keys {
		recipients = append(recipients, k.Recipient)
		key, err := DecryptFile([]byte(k.Enc), identities)
		switch {
		case err == nil && len(key) == dataKeySize:
			return key, nil
		case err == nil:
			errs = append(errs, fmt.Errorf("recipient %s: the data key has %d bytes, want %d", k.Recipient, len(key), dataKeySize))
		case !errors.Is(err, ErrNoIdentity):
			errs = append(errs, fmt.Errorf("recipient %s: %w", k.Recipient, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sops metadata: cannot decrypt the data key: %w", errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w of the document (%s)", ErrNoIdentity, strings.Join(recipients, ", "))
}

// rules decides which values are encrypted, from their path
// (sops.go shouldBeEncrypted, without the comment rules).
type rules struct {
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
}

func (r rules) encrypted(path []string) bool {
	encrypted := true
	if r.unencryptedSuffix != "" && slices.ContainsFunc(path, func(k string) bool { return strings.HasSuffix(k, r.unencryptedSuffix) }) {
		encrypted = false
	}
	if r.encryptedSuffix != "" {
		encrypted = slices.ContainsFunc(path, func(k string) bool { return strings.HasSuffix(k, r.encryptedSuffix) })
	}
	if r.unencryptedRegex != nil && slices.ContainsFunc(path, r.unencryptedRegex.MatchString) {
		encrypted = false
	}
	if r.encryptedRegex != nil {
		encrypted = slices.ContainsFunc(path, r.encryptedRegex.MatchString)
	}
	return encrypted
}

// walker visits the document as sops walks its tree: mappings in order,
// sequence items under their parent's path, scalars as leaves. It encrypts
// or decrypts the leaves the rules select, re-encodes every scalar as sops
// does, and feeds the MAC.
type walker struct {
	encrypt bool
	rules   rules
	macOnly bool
	key     []byte
	mac     hash.Hash
}

func (w *walker) mapping(n *yaml.Node, path []string) error {
	if err := w.noComments(n, path); err != nil {
		return err
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			return fmt.Errorf("%s: key %q is not a string", fieldPath(path), k.Value)
		}
		if err := w.noComments(k, path); err != nil {
			return err
		}
		key, err := reencode(k)
		if err != nil {
			return err
		}
		n.Content[i] = key
		p := append(path[:len(path):len(path)], k.Value)
		v, err := w.value(n.Content[i+1], p, path)
		if err != nil {
			return err
		}
		n.Content[i+1] = v
	}
	return nil
}

// value walks n at path; a scalar's comments belong to its parent's path,
// as sops files them next to the key.
func (w *walker) value(n *yaml.Node, path, parent []string) (*yaml.Node, error) {
	switch n.Kind {
	case yaml.MappingNode:
		return n, w.mapping(n, path)
	case yaml.SequenceNode:
		if err := w.noComments(n, path); err != nil {
			return nil, err
		}
		for i, item := range n.Content {
			v, err := w.value(item, path, path)
			if err != nil {
				return nil, err
			}
			n.Content[i] = v
		}
		return n, nil
	case yaml.ScalarNode:
		if err := w.noComments(n, parent); err != nil {
			return nil, err
		}
		return w.leaf(n, path)
	default:
		return nil, fmt.Errorf("%s: YAML anchors and aliases are not supported", fieldPath(path))
	}
}

func (w *walker) leaf(n *yaml.Node, path []string) (*yaml.Node, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
	}
	if v == nil { // sops leaves null alone and keeps it out of the MAC
		return reencode(n)
	}
	encrypted := w.rules.encrypted(path)
	ad := strings.Join(path, ":") + ":"
	switch {
	case encrypted && w.encrypt:
		plain, typ, err := toBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
		}
		w.mac.Write(plain)
		if s, ok := v.(string); ok && s == "" {
			return reencode(n) // sops leaves empty strings empty
		}
		ct, err := encryptValue(w.key, plain, typ, ad)
		if err != nil {
			return nil, err
		}
		v = ct
	case encrypted:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: an encrypted value must be a string, found %T", fieldPath(path), v)
		}
		if s != "" {
			plain, typ, err := decryptValue(w.key, s, ad)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
			}
			if v, err = fromBytes(plain, typ); err != nil {
				return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
			}
		}
		plain, _, err := toBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
		}
		w.mac.Write(plain)
	case !w.macOnly:
		plain, _, err := toBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldPath(path), err)
		}
		w.mac.Write(plain)
	}
	out := new(yaml.Node)
	if err := out.Encode(v); err != nil {
		return nil, err
	}
	copyComments(out, n)
	return out, nil
}

// noComments refuses comments that sops would encrypt: it encrypts comments
// on an encrypted path as values of type "comment", which we do not write.
func (w *walker) noComments(n *yaml.Node, path []string) error {
	if (n.HeadComment != "" || n.LineComment != "" || n.FootComment != "") && w.rules.encrypted(path) {
		return fmt.Errorf("%s: comments among encrypted values are not supported", fieldPath(path))
	}
	return nil
}

// toBytes is the plaintext of a value and its sops type, as sops encrypts it
// and feeds it to the MAC (aes/cipher.go Encrypt, sops.go ToBytes).
func toBytes(v any) ([]byte, string, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), "str", nil
	case int:
		return []byte(strconv.Itoa(v)), "int", nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), "float", nil
	case bool:
		if v {
			return []byte("True"), "bool", nil
		}
		return []byte("False"), "bool", nil
	default:
		return nil, "", fmt.Errorf("a value of type %T cannot be encrypted", v)
	}
}

// fromBytes is the inverse of toBytes (aes/cipher.go Decrypt).
func fromBytes(b []byte, typ string) (any, error) {
	switch typ {
	case "str":
		return string(b), nil
	case "int":
		return strconv.Atoi(string(b))
	case "float":
		return strconv.ParseFloat(string(b), 64)
	case "bool":
		return strconv.ParseBool(string(b))
	default:
		return nil, fmt.Errorf("encrypted value of type %q is not supported", typ)
	}
}

// encRE is sops' own pattern for an encrypted value (aes/cipher.go).
var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

func encryptValue(key, plaintext []byte, typ, additionalData string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, ivSize)
	if err != nil {
		return "", err
	}
	iv := make([]byte, ivSize)
	rand.Read(iv)
	out := gcm.Seal(nil, iv, plaintext, []byte(additionalData))
	data, tag := out[:len(out)-gcm.Overhead()], out[len(out)-gcm.Overhead():]
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]", b64(data), b64(iv), b64(tag), typ), nil
}

func decryptValue(key []byte, value, additionalData string) ([]byte, string, error) {
	m := encRE.FindStringSubmatch(value)
	if m == nil {
		return nil, "", errors.New("not an encrypted value (ENC[AES256_GCM,...])")
	}
	var parts [3][]byte
	for i, name := range []string{"data", "iv", "tag"} {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, "", fmt.Errorf("encrypted value: %s: %w", name, err)
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	if len(iv) == 0 {
		return nil, "", errors.New("encrypted value: empty iv")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, "", err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(additionalData))
	if err != nil {
		return nil, "", fmt.Errorf("the value fails its AES-GCM tag (changed, or moved from another key): %w", ErrTampered)
	}
	return plain, m[4], nil
}

// parseDocument reads a single YAML document whose root is a mapping.
func parseDocument(in []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("parsing YAML: empty document")
		}
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, errors.New("parsing YAML: more than one document")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("parsing YAML: the document is not a mapping")
	}
	// sops decodes into a map first, so that duplicate keys are refused
	// (stores/yaml/store.go LoadPlainFile).
	if err := yaml.Unmarshal(in, &map[string]any{}); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	return &doc, nil
}

func emit(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(indent)
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// reencode decodes a scalar and encodes it again, as sops's tree does: the
// same value may come out in another style ('true' becomes "true").
func reencode(n *yaml.Node) (*yaml.Node, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	out := new(yaml.Node)
	if err := out.Encode(v); err != nil {
		return nil, err
	}
	copyComments(out, n)
	return out, nil
}

func copyComments(dst, src *yaml.Node) {
	dst.HeadComment, dst.LineComment, dst.FootComment = src.HeadComment, src.LineComment, src.FootComment
}

func indexOfKey(m *yaml.Node, key string) int {
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// sortMappings sorts the keys of every mapping, byte-wise like encoding/json.
func sortMappings(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		type pair struct{ k, v *yaml.Node }
		pairs := make([]pair, 0, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			pairs = append(pairs, pair{n.Content[i], n.Content[i+1]})
		}
		slices.SortStableFunc(pairs, func(a, b pair) int { return strings.Compare(a.k.Value, b.k.Value) })
		for i, p := range pairs {
			n.Content[2*i], n.Content[2*i+1] = p.k, p.v
		}
	}
	for _, c := range n.Content {
		sortMappings(c)
	}
}

// fieldPath names a value for errors: data[tls.crt], metadata.name.
func fieldPath(path []string) string {
	if len(path) == 0 {
		return "document"
	}
	var b strings.Builder
	for i, k := range path {
		switch {
		case i == 0:
			b.WriteString(k)
		case strings.ContainsAny(k, ".[]"):
			fmt.Fprintf(&b, "[%s]", k)
		default:
			b.WriteString("." + k)
		}
	}
	return b.String()
}
