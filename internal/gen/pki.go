package gen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing/fstest"
)

// FixturePKI loads a committed PKI directory into memory. Committed test
// keys are armored "TESTING KEY" so that secret scanners leave them alone
// (as Go's crypto/tls tests do); they are rewritten to "PRIVATE KEY" here.
func FixturePKI(dir string) (fstest.MapFS, error) {
	m := fstest.MapFS{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: bytes.ReplaceAll(data, []byte("TESTING KEY"), []byte("PRIVATE KEY")), Mode: 0o600}
		return nil
	})
	return m, err
}
