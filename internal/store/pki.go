package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The PKI directory's redo log: a transaction is staged in txnDir and
// committed by renaming txnDir to commitDir. Neither name is a path the PKI
// reads.
const (
	txnDir    = ".tlsgen-txn"
	commitDir = ".tlsgen-commit"
)

// File is a file to write: its path relative to the directory it goes to,
// slash-separated, and whether it holds a private key (0600, never left
// outside its place). In the PKI directory, a file may also be removed as
// part of the transaction: a key that is now kept encrypted, say.
type File struct {
	Path    string
	Data    []byte
	Private bool
	Delete  bool
}

// deleteSuffix marks, in the redo log, a file the transaction removes.
const deleteSuffix = ".tlsgen-delete"

func (f File) mode() fs.FileMode {
	if f.Private {
		return 0o600
	}
	return 0o644
}

// CommitPKI writes files into the PKI directory dir as one transaction:
// after a crash at any point, RecoverPKI leaves either none of them or all.
// dir must exist and be locked by the caller. An error before the commit
// point leaves dir as it was; one after it leaves a committed transaction
// that RecoverPKI completes.
func CommitPKI(fsys FS, dir string, files []File) (err error) {
	if len(files) == 0 {
		return nil
	}
	txn := filepath.Join(dir, txnDir)
	if err := fsys.RemoveAll(txn); err != nil {
		return err
	}
	committed := false
	defer func() {
		if err != nil && !committed {
			fsys.RemoveAll(txn) // best effort; RecoverPKI discards it anyway
		}
	}()
	made := map[string]bool{}
	for _, f := range files {
		if d := filepath.Dir(filepath.Join(txn, filepath.FromSlash(f.Path))); !made[d] {
			if err := mkdirAll(fsys, d, 0o700); err != nil {
				return err
			}
			made[d] = true
		}
	}
	err = concurrently(len(files), func(i int) error {
		f := files[i]
		p := filepath.Join(txn, filepath.FromSlash(f.Path))
		data, mode := f.Data, f.mode()
		if f.Delete {
			p, data, mode = p+deleteSuffix, nil, 0o600
		}
		return fsys.WriteFile(p, data, mode)
	})
	if err != nil {
		return err
	}
	if err := fsys.SyncFS(txn); err != nil {
		return err
	}
	// The commit point.
	if err := fsys.Rename(txn, filepath.Join(dir, commitDir)); err != nil {
		return err
	}
	committed = true
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	return redo(fsys, dir)
}

// RecoverPKI brings dir back to a state a render can read after a render
// was killed or failed: it completes a committed transaction, discards an
// uncommitted one, and deals with the temporary files earlier versions of
// tlsgen left (a complete one whose file is missing is moved into place:
// it may be the only copy of a key). It returns what it did, for the user.
// dir must be locked by the caller.
func RecoverPKI(fsys FS, dir string) (notes []string, err error) {
	if exists(filepath.Join(dir, commitDir)) {
		if err := redo(fsys, dir); err != nil {
			return notes, fmt.Errorf("completing the interrupted update of %s: %w", dir, err)
		}
		notes = append(notes, "completed an update of the PKI directory that an interrupted render had committed")
	}
	if exists(filepath.Join(dir, txnDir)) {
		if err := fsys.RemoveAll(filepath.Join(dir, txnDir)); err != nil {
			return notes, err
		}
		notes = append(notes, "discarded an update of the PKI directory that an interrupted render had not committed")
	}
	legacy, err := legacyTemps(dir)
	if err != nil {
		return notes, err
	}
	for _, tmp := range legacy {
		target := filepath.Join(filepath.Dir(tmp), legacyTarget(filepath.Base(tmp)))
		rel, _ := filepath.Rel(dir, target)
		data, err := os.ReadFile(tmp)
		if err != nil {
			return notes, err
		}
		if !exists(target) && completePEM(data) {
			if err := fsys.Rename(tmp, target); err != nil {
				return notes, err
			}
			notes = append(notes, fmt.Sprintf("recovered %s from the temporary file an interrupted render left", filepath.ToSlash(rel)))
			continue
		}
		if err := fsys.Remove(tmp); err != nil {
			return notes, err
		}
		notes = append(notes, fmt.Sprintf("removed a temporary copy of %s an interrupted render left", filepath.ToSlash(rel)))
	}
	return notes, nil
}

// redo moves every file of the committed transaction into place and removes
// the log. A rename is done once: a file already moved is no longer in the
// log, so redo can itself be interrupted and run again.
func redo(fsys FS, dir string) error {
	log := filepath.Join(dir, commitDir)
	var files []string
	err := filepath.WalkDir(log, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	made := map[string]bool{}
	for _, p := range files {
		rel, _ := filepath.Rel(log, p)
		if d := filepath.Dir(filepath.Join(dir, rel)); !made[d] {
			if err := mkdirAll(fsys, d, 0o700); err != nil {
				return err
			}
			made[d] = true
		}
	}
	err = concurrently(len(files), func(i int) error {
		p := files[i]
		rel, _ := filepath.Rel(log, p)
		dst := filepath.Join(dir, rel)
		if target, ok := strings.CutSuffix(dst, deleteSuffix); ok {
			// The file first, then its mark: run again, this is a no-op.
			if err := fsys.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return fsys.Remove(p)
		}
		return fsys.Rename(p, dst)
	})
	if err != nil {
		return err
	}
	// The renames durable before the log goes.
	if err := fsys.SyncFS(dir); err != nil {
		return err
	}
	if err := fsys.RemoveAll(log); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

// legacyTemps finds the temporary files of the writer tlsgen had before
// the redo log: ".<name>.tmp-<digits>" beside <name>.
func legacyTemps(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && (d.Name() == txnDir || d.Name() == commitDir) {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && legacyTarget(d.Name()) != "" {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// legacyTarget returns the file a legacy temporary file was for, or "".
func legacyTarget(name string) string {
	i := strings.LastIndex(name, ".tmp-")
	if !strings.HasPrefix(name, ".") || i <= 1 {
		return ""
	}
	digits := name[i+len(".tmp-"):]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return ""
	}
	return name[1:i]
}

// completePEM reports whether data ends with a PEM block's end line: a
// temporary file cut short by a kill does not.
func completePEM(data []byte) bool {
	data = bytes.TrimRight(data, "\n")
	last := data[bytes.LastIndexByte(data, '\n')+1:]
	return bytes.HasPrefix(last, []byte("-----END ")) && bytes.HasSuffix(last, []byte("-----"))
}
