package render

import (
	"path"

	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/pki"
)

// Requests turns the inventory into what the PKI must hold: the CA, then one
// server certificate for the shared PostgreSQL Secret or one per database,
// and one for Redis. The names are the certificates' directories (R4).
func Requests(inv *model.Inventory) (pki.CARequest, []pki.Request) {
	ca := pki.CARequest{
		CommonName: inv.PKI.CA.CommonName,
		Key:        pki.KeyType(inv.PKI.CA.Key),
		Validity:   inv.PKI.CA.Validity.Value,
	}
	srv := inv.PKI.Server
	request := func(dir, certFile, keyFile, cn string, names []string) pki.Request {
		return pki.Request{
			Name:        dir,
			CertFile:    path.Join(dir, certFile),
			KeyFile:     path.Join(dir, keyFile),
			CAFile:      path.Join(dir, "ca-cert.pem"),
			CommonName:  cn,
			DNSNames:    names,
			Key:         pki.KeyType(srv.Key),
			Validity:    srv.Validity.Value,
			RenewBefore: srv.RenewBefore.Value,
		}
	}
	var reqs []pki.Request
	if pg := inv.Postgres; pg != nil {
		if pg.Certificates == model.PerDatabase {
			for _, db := range pg.Databases {
				names := append(inv.ServiceNames(db.Service), "localhost")
				reqs = append(reqs, request(path.Join("postgres", db.Name), "server-cert.pem", "server-key.pem", inv.ServiceFQDN(db.Service), names))
			}
		} else {
			reqs = append(reqs, request("postgres", "server-cert.pem", "server-key.pem", wildcard(inv), SharedDNSNames(inv)))
		}
	}
	if r := inv.Redis; r != nil {
		names := append(inv.ServiceNames(r.Service), "localhost")
		reqs = append(reqs, request("redis", "redis-cert.pem", "redis-key.pem", inv.ServiceFQDN(r.Service), names))
	}
	return ca, reqs
}

func wildcard(inv *model.Inventory) string {
	return "*." + inv.Namespace + ".svc." + inv.ClusterDomain
}

// SharedDNSNames lists the names of the shared PostgreSQL certificate: the
// guide's wildcard and localhost (R3), and every name of every database's
// Service, since the wildcard covers one label only (W3).
func SharedDNSNames(inv *model.Inventory) []string {
	names := []string{wildcard(inv)}
	for _, db := range inv.Postgres.Databases {
		names = append(names, inv.ServiceNames(db.Service)...)
	}
	return append(names, "localhost")
}
