package model

import (
	"filippo.io/age"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// derived holds the values setDefaults made from another field, by field
// path, with that field: a message about a value the user never wrote says
// where it came from, `"1db-service" (the default, from name "1db")`.
type derived map[string]string

// shown quotes v, the value at p, and says when it is a derived default.
func (d derived) shown(p *field.Path, v string) string {
	if from, ok := d[p.String()]; ok {
		return fmt.Sprintf("%q (the default, from %s)", v, from)
	}
	return fmt.Sprintf("%q", v)
}

func (inv *Inventory) setDefaults() derived {
	d := derived{}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	// deriveFrom defaults *s to v, made from the field named from at p.
	deriveFrom := func(p *field.Path, s *string, v, from, fromValue string) {
		if *s == "" {
			*s = v
			d[p.String()] = fmt.Sprintf("%s %q", from, fromValue)
		}
	}
	def(&inv.ClusterDomain, DefaultClusterDomain)
	def(&inv.PKI.Dir, DefaultPKIDir)
	def(&inv.PKI.CA.CommonName, inv.Namespace+" internal CA")
	def((*string)(&inv.PKI.CA.Key), string(DefaultKey))
	def(&inv.PKI.CA.Validity.Text, DefaultCAValidity)
	def((*string)(&inv.PKI.Server.Key), string(DefaultKey))
	def(&inv.PKI.Server.Validity.Text, DefaultValidity)
	def(&inv.PKI.Server.RenewBefore.Text, DefaultRenewBefore)
	def((*string)(&inv.TLS.Profile), string(Intermediate))
	if pg := inv.Postgres; pg != nil {
		def(&pg.Image, DefaultPostgresImage)
		def(&pg.InitImage, DefaultInitImage)
		def((*string)(&pg.Certificates), string(Shared))
		def(&pg.SecretName, DefaultSecretName)
		def(&pg.ConfigMapName, DefaultConfigMapName)
		def((*string)(&pg.ClientAuth), string(PostgresClientAuthNone))
		for i := range pg.Databases {
			db := &pg.Databases[i]
			deriveFrom(field.NewPath("postgres", "databases").Index(i).Child("service"), &db.Service, db.Name+"-service", "name", db.Name)
			if pg.Certificates == PerDatabase {
				db.SecretName = db.Name + "-tls"
			} else {
				db.SecretName = pg.SecretName
			}
		}
	}
	if r := inv.Redis; r != nil {
		def(&r.Name, DefaultRedisName)
		p := field.NewPath("redis")
		deriveFrom(p.Child("service"), &r.Service, r.Name+"-service", "name", r.Name)
		def(&r.SecretName, DefaultRedisSecret)
		def((*string)(&r.ClientAuth), string(RedisClientAuthNone))
	}
	for i := range inv.Clients {
		inv.Clients[i].Field = field.NewPath("clients").Index(i).String()
	}
	return d
}

// RunAsUID returns the user and group the PostgreSQL image runs as: 70 in the
// alpine images, 999 in the Debian ones (W4), unless the inventory says.
func (pg *Postgres) RunAsUID() int64 {
	if pg.UID != nil {
		return *pg.UID
	}
	if strings.Contains(pg.Image, "alpine") {
		return 70
	}
	return 999
}

// validate checks the inventory after setDefaults, which says in d which
// values it derived from other fields.
func (inv *Inventory) validate(d derived) field.ErrorList {
	var errs field.ErrorList
	if inv.APIVersion != APIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), inv.APIVersion, fmt.Sprintf("%q is not %q", inv.APIVersion, APIVersion)))
	}
	if inv.Kind != Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), inv.Kind, fmt.Sprintf("%q is not %q", inv.Kind, Kind)))
	}
	errs = append(errs, label(field.NewPath("namespace"), inv.Namespace)...)
	errs = append(errs, subdomain(field.NewPath("clusterDomain"), inv.ClusterDomain)...)
	if inv.Base == "" {
		errs = append(errs, field.Required(field.NewPath("base"), "the kustomize base this overlay patches, relative to the inventory"))
	}

	pki := field.NewPath("pki")
	if inv.PKI.CA.CommonName != "" && strings.TrimSpace(inv.PKI.CA.CommonName) == "" {
		errs = append(errs, field.Invalid(pki.Child("ca", "commonName"), "", "must not be blank"))
	}
	errs = append(errs, keyType(pki.Child("ca", "key"), inv.PKI.CA.Key)...)
	errs = append(errs, duration(pki.Child("ca", "validity"), &inv.PKI.CA.Validity)...)
	errs = append(errs, keyType(pki.Child("server", "key"), inv.PKI.Server.Key)...)
	errs = append(errs, duration(pki.Child("server", "validity"), &inv.PKI.Server.Validity)...)
	errs = append(errs, duration(pki.Child("server", "renewBefore"), &inv.PKI.Server.RenewBefore)...)
	srv := inv.PKI.Server
	if srv.Validity.Value > 0 && srv.RenewBefore.Value >= srv.Validity.Value {
		errs = append(errs, field.Invalid(pki.Child("server", "renewBefore"), srv.RenewBefore.Text,
			fmt.Sprintf("%s must be shorter than pki.server.validity (%s): the certificate would be renewed at every render", srv.RenewBefore.Text, srv.Validity.Text)))
	}
	if srv.Validity.Value > inv.PKI.CA.Validity.Value && inv.PKI.CA.Validity.Value > 0 {
		errs = append(errs, field.Invalid(pki.Child("server", "validity"), srv.Validity.Text,
			fmt.Sprintf("%s is longer than pki.ca.validity (%s)", srv.Validity.Text, inv.PKI.CA.Validity.Text)))
	}

	tls := field.NewPath("tls")
	if inv.TLS.Profile != Intermediate && inv.TLS.Profile != Modern {
		errs = append(errs, field.NotSupported(tls.Child("profile"), string(inv.TLS.Profile), []string{string(Intermediate), string(Modern)}))
	}
	// The list lands between quotes in postgresql.conf and on Redis's command
	// line: printable ASCII without quotes or backslashes keeps it one token.
	if c := inv.TLS.Ciphers; c != "" && strings.IndexFunc(c, func(r rune) bool { return r <= ' ' || r > '~' || r == '\'' || r == '"' || r == '\\' }) >= 0 {
		errs = append(errs, field.Invalid(tls.Child("ciphers"), c, "an OpenSSL cipher list has no quotes, backslashes or white space (e.g. \"ECDHE+AESGCM:!aNULL\")"))
	}

	if e := inv.Encryption; e != nil {
		errs = append(errs, validateEncryption(e, field.NewPath("encryption"))...)
	}
	if inv.Postgres == nil && inv.Redis == nil {
		errs = append(errs, field.Required(field.NewPath("postgres"), "the inventory lists no PostgreSQL databases and no Redis: there is nothing to render"))
	}
	// Names of objects tlsgen writes or patches, to catch two that collide.
	deployments := map[string]*field.Path{}
	secrets := map[string]*field.Path{}
	services := map[string]*field.Path{} // the names certificates are issued for
	claim := func(seen map[string]*field.Path, p *field.Path, name, what string) {
		if name == "" {
			return
		}
		if prev, ok := seen[name]; ok {
			errs = append(errs, field.Invalid(p, name, fmt.Sprintf("%s is already used by %s (%s names must be unique)", d.shown(p, name), prev, what)))
			return
		}
		seen[name] = p
	}
	if pg := inv.Postgres; pg != nil {
		p := field.NewPath("postgres")
		errs = append(errs, image(p.Child("image"), pg.Image)...)
		errs = append(errs, image(p.Child("initImage"), pg.InitImage)...)
		if pg.Container != "" { // else read from the base
			errs = append(errs, label(p.Child("container"), pg.Container)...)
		}
		if pg.UID != nil {
			for _, msg := range validation.IsValidUserID(*pg.UID) {
				errs = append(errs, field.Invalid(p.Child("uid"), *pg.UID, fmt.Sprintf("%d is not a valid user id: %s", *pg.UID, msg)))
			}
		}
		if pg.Certificates != Shared && pg.Certificates != PerDatabase {
			errs = append(errs, field.NotSupported(p.Child("certificates"), string(pg.Certificates), []string{string(Shared), string(PerDatabase)}))
		}
		switch pg.ClientAuth {
		case PostgresClientAuthNone, PostgresClientAuthVerifyFull, PostgresClientAuthCert:
		default:
			errs = append(errs, field.NotSupported(p.Child("clientAuth"), string(pg.ClientAuth),
				[]string{string(PostgresClientAuthNone), string(PostgresClientAuthVerifyFull), string(PostgresClientAuthCert)}))
		}
		errs = append(errs, subdomain(p.Child("secretName"), pg.SecretName)...)
		errs = append(errs, subdomain(p.Child("configMapName"), pg.ConfigMapName)...)
		if pg.Certificates == Shared {
			claim(secrets, p.Child("secretName"), pg.SecretName, "Secret")
		}
		if len(pg.Databases) == 0 {
			errs = append(errs, field.Required(p.Child("databases"), "list at least one database, or leave the postgres block out"))
		}
		for i, db := range pg.Databases {
			dp := p.Child("databases").Index(i)
			if ls := label(dp.Child("name"), db.Name); len(ls) > 0 {
				errs = append(errs, ls...)
				continue
			}
			if _, dup := deployments[db.Name]; dup {
				claim(deployments, dp.Child("name"), db.Name, "Deployment")
				continue // its service and Secret would only repeat the news
			}
			claim(deployments, dp.Child("name"), db.Name, "Deployment")
			errs = append(errs, service(dp.Child("service"), db.Service, d)...)
			claim(services, dp.Child("service"), db.Service, "Service")
			if pg.Certificates == PerDatabase {
				claim(secrets, dp.Child("name"), db.SecretName, "Secret")
			}
		}
	}
	if r := inv.Redis; r != nil {
		p := field.NewPath("redis")
		badName := label(p.Child("name"), r.Name)
		errs = append(errs, badName...)
		// A Service named after a bad name would only repeat
		// the news.
		fromBadName := func(f string) bool {
			_, ok := d[p.Child(f).String()]
			return ok && len(badName) > 0
		}
		_, dup := deployments[r.Name]
		claim(deployments, p.Child("name"), r.Name, "Deployment")
		if !fromBadName("service") {
			if ss := service(p.Child("service"), r.Service, d); len(ss) > 0 {
				errs = append(errs, ss...)
			} else if !dup { // a clash of defaults would only repeat the news
				claim(services, p.Child("service"), r.Service, "Service")
			}
		}
		if r.Container != "" { // else read from the base
			errs = append(errs, label(p.Child("container"), r.Container)...)
		}
		errs = append(errs, subdomain(p.Child("secretName"), r.SecretName)...)
		claim(secrets, p.Child("secretName"), r.SecretName, "Secret")
		if r.PasswordSecret.Name == "" {
			errs = append(errs, field.Required(p.Child("passwordSecret", "name"), "the Secret holding the Redis password (R8: --requirepass)"))
		} else {
			errs = append(errs, subdomain(p.Child("passwordSecret", "name"), r.PasswordSecret.Name)...)
		}
		for i, a := range r.Args {
			if strings.TrimSpace(a) == "" {
				errs = append(errs, field.Invalid(p.Child("args").Index(i), a, "an empty argument"))
				continue
			}
			// redis-server reads "--name value" as a config line, and config
			// names ignore case: "--PORT 6380" sets the port too.
			name := strings.ToLower(strings.Fields(a)[0])
			if name == "--port" || name == "--requirepass" || strings.HasPrefix(name, "--tls-") {
				errs = append(errs, field.Invalid(p.Child("args").Index(i), a, fmt.Sprintf("%s is set by tlsgen: the TLS listener, its files and the password come from the inventory", strings.Fields(a)[0])))
			}
		}
		if r.ClientAuth != RedisClientAuthNone && r.ClientAuth != RedisClientAuthRequired {
			errs = append(errs, field.NotSupported(p.Child("clientAuth"), string(r.ClientAuth), []string{string(RedisClientAuthNone), string(RedisClientAuthRequired)}))
		}
		if r.PasswordSecret.Key == "" {
			errs = append(errs, field.Required(p.Child("passwordSecret", "key"), "the key of the password in that Secret"))
		} else if msgs := validation.IsConfigMapKey(r.PasswordSecret.Key); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("passwordSecret", "key"), r.PasswordSecret.Key, fmt.Sprintf("%q is not a valid Secret key: %s", r.PasswordSecret.Key, strings.Join(msgs, "; "))))
		}
	}
	for i, c := range inv.Clients {
		errs = append(errs, inv.validateClient(c, field.NewPath("clients").Index(i), claim, deployments, secrets)...)
	}
	return errs
}

// maxUser is the longest name PostgreSQL keeps: NAMEDATALEN - 1 bytes.
// A longer user is truncated by the server, and would no longer equal the
// CN of its certificate.
const maxUser = 63

// validUser reports whether u is a database user tlsgen writes into a
// certificate's CN and the clients' settings: ASCII letters, digits and
// _ . - @ $, which need no quoting in a connection string or a CN.
func validUser(u string) bool {
	if u == "" || len(u) > maxUser {
		return false
	}
	for _, r := range u {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_.-@$", r):
		default:
			return false
		}
	}
	return true
}

// validateClient checks one client at p: its Deployment and container
// names, that every server it names is in the inventory, and its user. claim
// records the Deployment and the Secret it takes.
func (inv *Inventory) validateClient(c Client, p *field.Path, claim func(map[string]*field.Path, *field.Path, string, string), deployments, secrets map[string]*field.Path) field.ErrorList {
	var errs field.ErrorList
	if ls := label(p.Child("name"), c.Name); len(ls) > 0 {
		errs = append(errs, ls...)
	} else {
		_, dup := deployments[c.Name]
		claim(deployments, p.Child("name"), c.Name, "Deployment")
		if inv.NeedsCert(c) && !dup { // a duplicate's Secret would only repeat the news
			claim(secrets, p.Child("name"), ClientSecretName(c.Name), "Secret")
		}
	}
	if c.Container != "" { // else read from the base
		errs = append(errs, label(p.Child("container"), c.Container)...)
	}
	if len(c.Postgres) == 0 && !c.Redis {
		errs = append(errs, field.Required(p.Child("postgres"), "list the databases it connects to, or set redis: true: a client of no server has nothing to verify"))
	}
	seen := map[string]bool{}
	for j, db := range c.Postgres {
		dp := p.Child("postgres").Index(j)
		switch {
		case inv.Postgres == nil:
			errs = append(errs, field.Invalid(dp, db, fmt.Sprintf("%q is not a database of the inventory: it has no postgres block", db)))
		case seen[db]:
			errs = append(errs, field.Invalid(dp, db, fmt.Sprintf("%q is listed twice", db)))
		case !slices.ContainsFunc(inv.Postgres.Databases, func(d Database) bool { return d.Name == db }):
			errs = append(errs, field.Invalid(dp, db, fmt.Sprintf("%q is not a database of the inventory (a name in postgres.databases)", db)))
		}
		seen[db] = true
	}
	if c.Redis && inv.Redis == nil {
		errs = append(errs, field.Invalid(p.Child("redis"), true, "true, but the inventory has no redis block"))
	}
	switch {
	case c.User == "" && len(c.Postgres) > 0:
		errs = append(errs, field.Required(p.Child("user"), "the database user it connects as: the common name of its client certificate"))
	case c.User != "" && !validUser(c.User):
		errs = append(errs, field.Invalid(p.Child("user"), c.User, fmt.Sprintf("%q is not a database user tlsgen accepts: 1 to %d ASCII letters, digits, '_', '.', '-', '@' or '$' (the certificate's common name must equal the user PostgreSQL sees)", c.User, maxUser)))
	}
	return errs
}

func label(p *field.Path, v string) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("%q is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", v))}
	}
	return nil
}

// service checks a Service name. A default made from a name that is a fine
// DNS-1123 label may still fail (1db-service starts with a digit; a name of
// 56 characters or more leaves no room for -service): the message then
// says so, and that the way out is to set service.
func service(p *field.Path, v string, d derived) field.ErrorList {
	if msgs := validation.IsDNS1035Label(v); len(msgs) > 0 {
		msg := fmt.Sprintf("%s is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters)", d.shown(p, v))
		if _, ok := d[p.String()]; ok {
			msg += "; set service"
		}
		return field.ErrorList{field.Invalid(p, v, msg)}
	}
	return nil
}

func subdomain(p *field.Path, v string) field.ErrorList {
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("%q is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)", v))}
	}
	return nil
}

func image(p *field.Path, v string) field.ErrorList {
	if strings.TrimSpace(v) != v || strings.ContainsAny(v, " \t\n") {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("%q is not an image reference: it contains white space", v))}
	}
	return nil
}

func keyType(p *field.Path, k KeyType) field.ErrorList {
	if !slices.Contains(KeyTypes, k) {
		names := make([]string, len(KeyTypes))
		for i, t := range KeyTypes {
			names[i] = string(t)
		}
		return field.ErrorList{field.NotSupported(p, string(k), names)}
	}
	return nil
}

func duration(p *field.Path, d *Duration) field.ErrorList {
	v, err := ParseDuration(d.Text)
	if err != nil {
		return field.ErrorList{field.Invalid(p, d.Text, err.Error())}
	}
	d.Value = v
	return nil
}

// validateEncryption checks the age recipients: at least one, each one a
// recipient age reads. A secret key pasted by mistake is never repeated.
func validateEncryption(e *Encryption, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(e.Age) == 0 {
		return field.ErrorList{field.Required(p.Child("age"), "list at least one age recipient (age1..., from age-keygen -y), or leave encryption out")}
	}
	seen := map[string]bool{}
	for i, r := range e.Age {
		ip := p.Child("age").Index(i)
		switch {
		case strings.HasPrefix(strings.ToUpper(strings.TrimSpace(r)), "AGE-SECRET-KEY-"):
			errs = append(errs, field.Invalid(ip, "", "a secret key, not a recipient: list its public key (age-keygen -y KEYFILE), and keep the secret key out of the inventory"))
		case seen[r]:
			errs = append(errs, field.Invalid(ip, r, fmt.Sprintf("%q is listed twice", r)))
		default:
			if _, err := age.ParseX25519Recipient(r); err != nil {
				errs = append(errs, field.Invalid(ip, r, fmt.Sprintf("%q is not an age recipient (age1..., from age-keygen -y): %v", r, err)))
			}
		}
		seen[r] = true
	}
	return errs
}
