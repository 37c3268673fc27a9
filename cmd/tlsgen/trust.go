package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"sigs.k8s.io/yaml"
)

// bundleCAs reads the CAs the overlay in out trusts: its CA bundle
// ConfigMap. None when there is no overlay yet.
func bundleCAs(out string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(out, "configmaps", render.CABundleName+".yaml"))
	if err != nil {
		return nil, nil
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil || cm.Data[model.CAFile] == "" {
		return nil, nil
	}
	return pki.ParseCerts([]byte(cm.Data[model.CAFile]))
}

// checkTrust refuses a render that would make the overlay trust CAs it did
// not: a fresh clone without its PKI directory would otherwise create a
// new CA and rotate trust for the whole namespace in one step, an outage
// for every client that verifies. After a rotation's finish, the PKI holds
// the new CA, which the bundle already trusts.
func checkTrust(out, outName, pkiDir string, state *pki.Result) error {
	trusted, err := bundleCAs(out)
	if err != nil || len(trusted) == 0 {
		return nil // no bundle yet (or not one tlsgen can read): nothing to keep
	}
	for _, c := range []*x509.Certificate{state.CA, state.Next} {
		if c != nil && slices.ContainsFunc(trusted, func(t *x509.Certificate) bool { return bytes.Equal(t.Raw, c.Raw) }) {
			return nil
		}
	}
	var names []string
	for _, t := range trusted {
		names = append(names, fmt.Sprintf("%q", t.Subject.CommonName))
	}
	what := "holds another CA"
	if slices.ContainsFunc(state.Events, func(e pki.Event) bool { return e.Name == "ca" && e.Action == "created" }) {
		what = "holds no CA, and rendering would create a new one"
	}
	return invalid("restore the PKI directory (or pass --pki DIR); to start a new CA on purpose, pass --new-ca, and every client must then trust it (tlsgen rotate-ca rotates without an outage)",
		"%s: its CA bundle trusts %s, and the PKI directory %s %s that no client trusts yet", outName, strings.Join(names, ", "), pkiDir, what)
}
