package render

import (
	"path"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// Requests turns the inventory into what the PKI must hold: the CA, then one
// certificate per distinct certificate of the servers (shared mode: one for
// every database), in the servers' order, then the client certificates,
// which take the servers' key type, validity and renewal window. The names
// are the certificates' directories (R4), and clients/<client>.
func Requests(inv *model.Inventory) (pki.CARequest, []pki.Request) {
	ca := pki.CARequest{
		CommonName: inv.PKI.CA.CommonName,
		Key:        pki.KeyType(inv.PKI.CA.Key),
		Validity:   inv.PKI.CA.Validity.Value,
	}
	srv := inv.PKI.Server
	var reqs []pki.Request
	seen := map[string]bool{}
	for _, s := range inv.Servers() {
		if seen[s.Cert] {
			continue
		}
		seen[s.Cert] = true
		reqs = append(reqs, pki.Request{
			Name:        s.Cert,
			CertFile:    path.Join(s.Cert, s.CertFile),
			KeyFile:     path.Join(s.Cert, s.KeyFile),
			CAFile:      path.Join(s.Cert, model.CAFile),
			CommonName:  s.CommonName,
			DNSNames:    s.DNSNames,
			Key:         pki.KeyType(srv.Key),
			Validity:    srv.Validity.Value,
			RenewBefore: srv.RenewBefore.Value,
		})
	}
	for _, c := range inv.ClientCerts() {
		reqs = append(reqs, pki.Request{
			Name:        c.Name,
			CertFile:    c.CertFile,
			KeyFile:     c.KeyFile,
			CAFile:      c.CAFile,
			CommonName:  c.CommonName,
			Key:         pki.KeyType(srv.Key),
			Validity:    srv.Validity.Value,
			RenewBefore: srv.RenewBefore.Value,
			Usage:       pki.ClientAuth,
		})
	}
	return ca, reqs
}
