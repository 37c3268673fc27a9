package model_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/pkg/model"
)

// head is the smallest valid start of an inventory; cases add the rest.
const head = "apiVersion: tlsgen/v1alpha1\nkind: Inventory\nnamespace: bakery-ia\nbase: base\n"

const redisBlock = "redis:\n  passwordSecret: {name: bakery-ia-secrets, key: REDIS_PASSWORD}\n"

func mustParse(t *testing.T, data string) *model.Inventory {
	t.Helper()
	inv, err := model.Parse("inventory.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v\ninput:\n%s", err, data)
	}
	return inv
}

func TestParseAppliesDefaults(t *testing.T) {
	inv := mustParse(t, head+"postgres:\n  databases:\n  - name: tenant-db\n  - name: auth-db\n"+redisBlock)
	got := map[string]string{
		"clusterDomain":             inv.ClusterDomain,
		"pki.dir":                   inv.PKI.Dir,
		"pki.ca.commonName":         inv.PKI.CA.CommonName,
		"pki.ca.key":                string(inv.PKI.CA.Key),
		"pki.ca.validity":           inv.PKI.CA.Validity.Text,
		"pki.server.key":            string(inv.PKI.Server.Key),
		"pki.server.validity":       inv.PKI.Server.Validity.Text,
		"pki.server.renewBefore":    inv.PKI.Server.RenewBefore.Text,
		"tls.profile":               string(inv.TLS.Profile),
		"tls.ciphers":               inv.TLS.Ciphers,
		"postgres.image":            inv.Postgres.Image,
		"postgres.container":        inv.Postgres.Container,
		"postgres.initImage":        inv.Postgres.InitImage,
		"postgres.certificates":     string(inv.Postgres.Certificates),
		"postgres.secretName":       inv.Postgres.SecretName,
		"postgres.configMapName":    inv.Postgres.ConfigMapName,
		"databases[0].name":         inv.Postgres.Databases[0].Name,
		"databases[0].service":      inv.Postgres.Databases[0].Service,
		"databases[0].secretName":   inv.Postgres.Databases[0].SecretName,
		"databases[1].name":         inv.Postgres.Databases[1].Name,
		"databases[1].service":      inv.Postgres.Databases[1].Service,
		"redis.name":                inv.Redis.Name,
		"redis.service":             inv.Redis.Service,
		"redis.container":           inv.Redis.Container,
		"redis.secretName":          inv.Redis.SecretName,
		"redis.passwordSecret.name": inv.Redis.PasswordSecret.Name,
	}
	want := map[string]string{
		"clusterDomain":             "cluster.local",
		"pki.dir":                   "tls",
		"pki.ca.commonName":         "bakery-ia internal CA",
		"pki.ca.key":                "ecdsa-p256",
		"pki.ca.validity":           "10y",
		"pki.server.key":            "ecdsa-p256",
		"pki.server.validity":       "1y",
		"pki.server.renewBefore":    "30d",
		"tls.profile":               "intermediate",
		"tls.ciphers":               "",
		"postgres.image":            "postgres:17-alpine",
		"postgres.container":        "", // read from the base
		"postgres.initImage":        "busybox:1.37.0",
		"postgres.certificates":     "shared",
		"postgres.secretName":       "postgres-tls",
		"postgres.configMapName":    "postgres-tls-config",
		"databases[0].name":         "auth-db", // sorted: the file lists tenant-db first
		"databases[0].service":      "auth-db-service",
		"databases[0].secretName":   "postgres-tls",
		"databases[1].name":         "tenant-db",
		"databases[1].service":      "tenant-db-service",
		"redis.name":                "redis",
		"redis.service":             "redis-service",
		"redis.container":           "", // read from the base
		"redis.secretName":          "redis-tls",
		"redis.passwordSecret.name": "bakery-ia-secrets",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	durations := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"pki.ca.validity", inv.PKI.CA.Validity.Value, 10 * model.Year},
		{"pki.server.validity", inv.PKI.Server.Validity.Value, model.Year},
		{"pki.server.renewBefore", inv.PKI.Server.RenewBefore.Value, 30 * model.Day},
	}
	for _, d := range durations {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
	if uid := inv.Postgres.RunAsUID(); uid != 70 {
		t.Errorf("RunAsUID() = %d for the alpine image, want 70", uid)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, inv *model.Inventory)
	}{
		{
			name:  "perDatabase mode gives every database its own Secret named <name>-tls",
			input: head + "postgres:\n  certificates: perDatabase\n  databases:\n  - name: tenant-db\n  - name: auth-db\n",
			check: func(t *testing.T, inv *model.Inventory) {
				for _, db := range inv.Postgres.Databases {
					if db.SecretName != db.Name+"-tls" {
						t.Errorf("database %s: SecretName = %q, want %q", db.Name, db.SecretName, db.Name+"-tls")
					}
				}
			},
		},
		{
			name:  "a service given in the file is kept",
			input: head + "postgres:\n  databases:\n  - {name: auth-db, service: auth}\n",
			check: func(t *testing.T, inv *model.Inventory) {
				if s := inv.Postgres.Databases[0].Service; s != "auth" {
					t.Errorf("service = %q, want auth", s)
				}
			},
		},
		{
			name:  "a renamed Redis gets its Service from its name, and its container from the base",
			input: head + "redis:\n  name: cache\n  passwordSecret: {name: s, key: k}\n",
			check: func(t *testing.T, inv *model.Inventory) {
				if inv.Redis.Service != "cache-service" || inv.Redis.Container != "" {
					t.Errorf("service, container = %q, %q; want cache-service and none", inv.Redis.Service, inv.Redis.Container)
				}
				if inv.Postgres != nil {
					t.Errorf("Postgres = %+v, want nil when the block is left out", inv.Postgres)
				}
			},
		},
		{
			name:  "a Debian image runs as uid 999",
			input: head + "postgres:\n  image: postgres:17\n  databases: [{name: a}]\n",
			check: func(t *testing.T, inv *model.Inventory) {
				if uid := inv.Postgres.RunAsUID(); uid != 999 {
					t.Errorf("RunAsUID() = %d, want 999", uid)
				}
			},
		},
		{
			name:  "a stated uid wins over the image",
			input: head + "postgres:\n  uid: 0\n  databases: [{name: a}]\n",
			check: func(t *testing.T, inv *model.Inventory) {
				if uid := inv.Postgres.RunAsUID(); uid != 0 {
					t.Errorf("RunAsUID() = %d, want 0", uid)
				}
			},
		},
		{
			name:  "null values leave the defaults",
			input: head + "clusterDomain: null\npki: {ca: {validity: null}}\npostgres:\n  databases: [{name: a}]\n",
			check: func(t *testing.T, inv *model.Inventory) {
				if inv.ClusterDomain != "cluster.local" || inv.PKI.CA.Validity.Text != "10y" {
					t.Errorf("clusterDomain, ca.validity = %q, %q; want the defaults", inv.ClusterDomain, inv.PKI.CA.Validity.Text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustParse(t, tt.input)) })
	}
}

func TestParseSortsDatabasesWhateverTheFileOrder(t *testing.T) {
	orders := [][]string{
		{"auth-db", "orders-db", "tenant-db", "pos-db"},
		{"tenant-db", "pos-db", "orders-db", "auth-db"},
		{"pos-db", "auth-db", "tenant-db", "orders-db"},
	}
	want := []string{"auth-db", "orders-db", "pos-db", "tenant-db"}
	for _, names := range orders {
		inv, err := model.Parse("inventory.yaml", gen.YAML(gen.Databases(names...)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, db := range inv.Postgres.Databases {
			got = append(got, db.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("file order %v: databases %v, want %v", names, got, want)
		}
	}
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := model.Parse("examples/inventory.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inv.Postgres.Databases); n != 14 {
		t.Errorf("%d databases, want the guide's 14", n)
	}
	if inv.PKI.CA.Key != model.RSA4096 || inv.PKI.Server.Validity.Value != 3*model.Year || inv.PKI.Server.RenewBefore.Value != 90*model.Day {
		t.Errorf("pki = %+v, want the guide's RSA 4096, 3y, 90d", inv.PKI)
	}
	if inv.Postgres.ConfigMapName != "postgres-logging-config" {
		t.Errorf("configMapName = %q, want the guide's postgres-logging-config", inv.Postgres.ConfigMapName)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "ten years are 3650 days", in: "10y", want: 3650 * 24 * time.Hour},
		{name: "three years are 1095 days", in: "3y", want: 1095 * 24 * time.Hour},
		{name: "ninety days", in: "90d", want: 90 * 24 * time.Hour},
		{name: "thirty-six hours", in: "36h", want: 36 * time.Hour},
		{name: "thirty minutes", in: "30m", want: 30 * time.Minute},
		{name: "surrounding white space is ignored", in: " 90d ", want: 90 * 24 * time.Hour},
		{name: "a bare number has no unit", in: "10", wantErr: `"10" has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "a unit alone has no number", in: "y", wantErr: `"y" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "a negative number is refused", in: "-3d", wantErr: `"-3d" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "zero is refused", in: "0d", wantErr: `"0d" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "weeks are not a unit", in: "3w", wantErr: `"3w" has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "a fraction is refused", in: "1.5y", wantErr: `"1.5y" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "the empty string is refused", in: "", wantErr: "empty duration"},
		{name: "Go's own syntax is refused", in: "1h30m", wantErr: `"1h30m" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
		{name: "more than 200 years is refused", in: "201y", wantErr: `"201y" is longer than 200 years`},
		{name: "a number that overflows is refused", in: "99999999999999999999m", wantErr: `"99999999999999999999m" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := model.ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurationInInventory(t *testing.T) {
	// A bare YAML number reaches validation with its path, like any other bad value.
	_, err := model.Parse("inv.yaml", []byte(head+"pki:\n  server:\n    validity: 365\npostgres: {databases: [{name: a}]}\n"))
	want := `inv.yaml: pki.server.validity: "365" has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse = %v, want\n%s", err, want)
	}
}

func TestParseErrors(t *testing.T) {
	pg := "postgres:\n  databases:\n  - name: auth-db\n  - name: tenant-db\n"
	tests := []struct {
		name  string
		input string
		want  []string // every line of the error, in order
	}{
		{
			name:  "an unknown top-level field is named",
			input: head + "namespce: x\n" + pg,
			want:  []string{"inv.yaml: namespce: unknown field"},
		},
		{
			name:  "an unknown field in a list item is named with its index",
			input: head + "postgres:\n  databases:\n  - name: auth-db\n  - nmae: tenant-db\n",
			want: []string{
				"inv.yaml: postgres.databases[1].nmae: unknown field",
				"inv.yaml: postgres.databases[1].name: required",
			},
		},
		{
			name:  "field names are case-sensitive",
			input: head + "PKI: {dir: x}\n" + pg,
			want:  []string{"inv.yaml: PKI: unknown field"},
		},
		{
			name:  "a duplicate database is reported once, at its second place",
			input: head + "postgres:\n  databases:\n  - name: auth-db\n  - name: tenant-db\n  - name: auth-db\n",
			want:  []string{`inv.yaml: postgres.databases[2].name: "auth-db" is already used by postgres.databases[0].name (Deployment names must be unique)`},
		},
		{
			name:  "a name that is not a DNS-1123 label",
			input: head + "postgres:\n  databases:\n  - name: auth-db\n  - name: orders-db\n  - name: pos-db\n  - name: Auth_DB\n",
			want:  []string{`inv.yaml: postgres.databases[3].name: "Auth_DB" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`},
		},
		{
			name:  "a name longer than 63 characters",
			input: head + "postgres:\n  databases:\n  - name: " + strings.Repeat("a", 64) + "\n",
			want:  []string{`inv.yaml: postgres.databases[0].name: "` + strings.Repeat("a", 64) + `" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`},
		},
		{
			name:  "a service that starts with a digit is not a DNS-1035 label",
			input: head + "postgres:\n  databases:\n  - {name: auth-db, service: 1auth}\n",
			want:  []string{`inv.yaml: postgres.databases[0].service: "1auth" is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters)`},
		},
		{
			name:  "a default service from a name that starts with a digit says it is the default",
			input: head + "postgres:\n  databases:\n  - name: auth-db\n  - name: 1db\n",
			want:  []string{`inv.yaml: postgres.databases[1].service: "1db-service" (the default, from name "1db") is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters); set service`},
		},
		{
			name:  "a default service pushed past 63 characters by its suffix says it is the default",
			input: head + "postgres:\n  databases:\n  - name: " + strings.Repeat("a", 60) + "\n",
			want:  []string{`inv.yaml: postgres.databases[0].service: "` + strings.Repeat("a", 60) + `-service" (the default, from name "` + strings.Repeat("a", 60) + `") is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters); set service`},
		},
		{
			name:  "a default service that is already used says it is the default",
			input: head + "postgres:\n  databases:\n  - {name: a, service: b-service}\n  - name: b\n",
			want:  []string{`inv.yaml: postgres.databases[1].service: "b-service" (the default, from name "b") is already used by postgres.databases[0].service (Service names must be unique)`},
		},
		{
			name:  "two databases sharing a service",
			input: head + "postgres:\n  databases:\n  - {name: a, service: db}\n  - {name: b, service: db}\n",
			want:  []string{`inv.yaml: postgres.databases[1].service: "db" is already used by postgres.databases[0].service (Service names must be unique)`},
		},
		{
			name:  "renewBefore equal to validity would renew at every render",
			input: head + "pki:\n  server: {validity: 90d, renewBefore: 90d}\n" + pg,
			want:  []string{"inv.yaml: pki.server.renewBefore: 90d must be shorter than pki.server.validity (90d): the certificate would be renewed at every render"},
		},
		{
			name:  "renewBefore longer than validity, in other units",
			input: head + "pki:\n  server: {validity: 36h, renewBefore: 2d}\n" + pg,
			want:  []string{"inv.yaml: pki.server.renewBefore: 2d must be shorter than pki.server.validity (36h): the certificate would be renewed at every render"},
		},
		{
			name:  "a server certificate may not outlive its CA",
			input: head + "pki:\n  ca: {validity: 2y}\n  server: {validity: 3y}\n" + pg,
			want:  []string{"inv.yaml: pki.server.validity: 3y is longer than pki.ca.validity (2y)"},
		},
		{
			name:  "bad durations are each named",
			input: head + "pki:\n  ca: {validity: 10}\n  server: {validity: 3w, renewBefore: -3d}\n" + pg,
			want: []string{
				`inv.yaml: pki.ca.validity: "10" has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)`,
				`inv.yaml: pki.server.validity: "3w" has no unit: write a whole number followed by y, d, h or m (e.g. 3y, 90d)`,
				`inv.yaml: pki.server.renewBefore: "-3d" is not a positive whole number followed by y, d, h or m (e.g. 3y, 90d)`,
			},
		},
		{
			name:  "an unknown key type lists the supported ones",
			input: head + "pki:\n  ca: {key: rsa-1024}\n" + pg,
			want:  []string{`inv.yaml: pki.ca.key: "rsa-1024" is not supported (supported values: "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384")`},
		},
		{
			name:  "an unknown server key type",
			input: head + "pki:\n  server: {key: ed25519}\n" + pg,
			want:  []string{`inv.yaml: pki.server.key: "ed25519" is not supported (supported values: "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384")`},
		},
		{
			name:  "an unknown TLS profile",
			input: head + "tls: {profile: old}\n" + pg,
			want:  []string{`inv.yaml: tls.profile: "old" is not supported (supported values: "intermediate", "modern")`},
		},
		{
			name:  "an unknown certificates mode",
			input: head + "postgres:\n  certificates: perService\n  databases: [{name: a}]\n",
			want:  []string{`inv.yaml: postgres.certificates: "perService" is not supported (supported values: "shared", "perDatabase")`},
		},
		{
			name:  "ciphers with a quote would break postgresql.conf",
			input: head + "tls: {ciphers: \"HIGH:'x\"}\n" + pg,
			want:  []string{`inv.yaml: tls.ciphers: an OpenSSL cipher list has no quotes, backslashes or white space (e.g. "ECDHE+AESGCM:!aNULL")`},
		},
		{
			name:  "ciphers with a space",
			input: head + "tls: {ciphers: \"HIGH: MEDIUM\"}\n" + pg,
			want:  []string{`inv.yaml: tls.ciphers: an OpenSSL cipher list has no quotes, backslashes or white space (e.g. "ECDHE+AESGCM:!aNULL")`},
		},
		{
			name:  "ciphers with a control character",
			input: head + "tls: {ciphers: \"HIGH\\0\"}\n" + pg,
			want:  []string{`inv.yaml: tls.ciphers: an OpenSSL cipher list has no quotes, backslashes or white space (e.g. "ECDHE+AESGCM:!aNULL")`},
		},
		{
			name:  "a wrong apiVersion and kind",
			input: "apiVersion: v1\nkind: ConfigMap\nnamespace: bakery-ia\nbase: base\n" + pg,
			want: []string{
				`inv.yaml: apiVersion: "v1" is not "tlsgen/v1alpha1"`,
				`inv.yaml: kind: "ConfigMap" is not "Inventory"`,
			},
		},
		{
			name:  "a missing namespace",
			input: "apiVersion: tlsgen/v1alpha1\nkind: Inventory\nbase: base\n" + pg,
			want:  []string{"inv.yaml: namespace: required"},
		},
		{
			name:  "a missing base",
			input: "apiVersion: tlsgen/v1alpha1\nkind: Inventory\nnamespace: bakery-ia\n" + pg,
			want:  []string{"inv.yaml: base: required: the kustomize base this overlay patches, relative to the inventory"},
		},
		{
			name:  "neither databases nor Redis leaves nothing to render",
			input: head,
			want:  []string{"inv.yaml: postgres: required: the inventory lists no PostgreSQL databases and no Redis: there is nothing to render"},
		},
		{
			name:  "a postgres block without databases",
			input: head + "postgres:\n  image: postgres:17\n",
			want:  []string{"inv.yaml: postgres.databases: required: list at least one database, or leave the postgres block out"},
		},
		{
			name:  "an empty list of databases",
			input: head + "postgres:\n  databases: []\n",
			want:  []string{"inv.yaml: postgres.databases: required: list at least one database, or leave the postgres block out"},
		},
		{
			name:  "an empty file",
			input: "",
			want:  []string{"inv.yaml: empty: expected an inventory (apiVersion: tlsgen/v1alpha1, kind: Inventory)"},
		},
		{
			name:  "a file of comments only is empty too",
			input: "# nothing yet\n",
			want:  []string{"inv.yaml: empty: expected an inventory (apiVersion: tlsgen/v1alpha1, kind: Inventory)"},
		},
		{
			name:  "a list at the top level is not an inventory",
			input: "- name: auth-db\n",
			want:  []string{"inv.yaml: not an inventory: expected a YAML mapping with apiVersion: tlsgen/v1alpha1"},
		},
		{
			name:  "a YAML syntax error gives its line",
			input: head + "postgres:\n  databases: [{name: a}\n",
			want:  []string{"inv.yaml: not valid YAML: line 6: did not find expected ',' or ']'"},
		},
		{
			name:  "a duplicate YAML key is one line that names the key",
			input: head + "namespace: other\n" + pg,
			want:  []string{`inv.yaml: not valid YAML: line 5: key "namespace" already set in map`},
		},
		{
			name:  "a null mapping key",
			input: head + "postgres:\n  ~: 1\n",
			want:  []string{"inv.yaml: not valid YAML: a mapping key that is null, a list or a mapping: keys are field names"},
		},
		{
			name:  "a list as a mapping key",
			input: head + "[a]: 1\n",
			want:  []string{"inv.yaml: not valid YAML: a mapping key that is null, a list or a mapping: keys are field names"},
		},
		{
			name:  "a string where a list belongs",
			input: head + "postgres:\n  databases: foo\n",
			want:  []string{`inv.yaml: postgres.databases: expected a list, found the string "foo"`},
		},
		{
			name:  "wrong types inside lists keep their index, and unknown fields come along",
			input: head + "postgres:\n  uid: x\n  databases:\n  - name: auth-db\n  - name: 5\n  - nmae: c\n",
			want: []string{
				"inv.yaml: postgres.databases[2].nmae: unknown field",
				"inv.yaml: postgres.databases[1].name: expected a string, found the number 5",
				`inv.yaml: postgres.uid: expected a whole number, found the string "x"`,
			},
		},
		{
			name:  "a mapping where a duration belongs",
			input: head + "pki:\n  ca:\n    validity: {years: 10}\n" + pg,
			want:  []string{"inv.yaml: pki.ca.validity: expected a duration (e.g. 3y, 90d), found a mapping"},
		},
		{
			name:  "a fractional uid",
			input: head + "postgres:\n  uid: 1.5\n  databases: [{name: a}]\n",
			want:  []string{"inv.yaml: postgres.uid: expected a whole number, found the number 1.5"},
		},
		{
			name:  "a negative uid",
			input: head + "postgres:\n  uid: -1\n  databases: [{name: a}]\n",
			want:  []string{"inv.yaml: postgres.uid: -1 is not a valid user id: must be between 0 and 2147483647, inclusive"},
		},
		{
			name:  "redis without passwordSecret",
			input: head + "redis: {name: redis}\n",
			want: []string{
				"inv.yaml: redis.passwordSecret.name: required: the Secret holding the Redis password (R8: --requirepass)",
				"inv.yaml: redis.passwordSecret.key: required: the key of the password in that Secret",
			},
		},
		{
			name:  "redis args may not set the port, the password or any TLS setting",
			input: head + "redis:\n  passwordSecret: {name: s, key: k}\n  args: [--appendonly, \"yes\", --port, \"6380\", --tls-port, --requirepass, --TLS-auth-clients, \"--PORT 6381\", \" \"]\n",
			want: []string{
				"inv.yaml: redis.args[2]: --port is set by tlsgen: the TLS listener, its files and the password come from the inventory",
				"inv.yaml: redis.args[4]: --tls-port is set by tlsgen: the TLS listener, its files and the password come from the inventory",
				"inv.yaml: redis.args[5]: --requirepass is set by tlsgen: the TLS listener, its files and the password come from the inventory",
				"inv.yaml: redis.args[6]: --TLS-auth-clients is set by tlsgen: the TLS listener, its files and the password come from the inventory",
				"inv.yaml: redis.args[7]: --PORT is set by tlsgen: the TLS listener, its files and the password come from the inventory",
				"inv.yaml: redis.args[8]: an empty argument",
			},
		},
		{
			name:  "a database named like the redis Deployment",
			input: head + "postgres:\n  databases: [{name: redis}]\n" + redisBlock,
			want:  []string{`inv.yaml: redis.name: "redis" is already used by postgres.databases[0].name (Deployment names must be unique)`},
		},
		{
			name:  "a perDatabase Secret colliding with redis.secretName",
			input: head + "postgres:\n  certificates: perDatabase\n  databases: [{name: cache}]\nredis:\n  secretName: cache-tls\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.secretName: "cache-tls" is already used by postgres.databases[0].name (Secret names must be unique)`},
		},
		{
			name:  "the shared Secret colliding with redis.secretName",
			input: head + "postgres:\n  secretName: tls\n  databases: [{name: a}]\nredis:\n  secretName: tls\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.secretName: "tls" is already used by postgres.secretName (Secret names must be unique)`},
		},
		{
			name:  "a redis Service that is not a DNS-1035 label",
			input: head + "redis:\n  service: Redis.Service\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.service: "Redis.Service" is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters)`},
		},
		{
			name:  "a default redis Service from a name that starts with a digit says it is the default",
			input: head + "redis:\n  name: 1cache\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.service: "1cache-service" (the default, from name "1cache") is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters); set service`},
		},
		{
			name:  "a bad redis name is told once, not again through the Service and container named after it",
			input: head + "redis:\n  name: Cache_1\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.name: "Cache_1" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`},
		},
		{
			name:  "a bad redis name with a service and container given reports those too",
			input: head + "redis:\n  name: Cache_1\n  service: 1cache\n  container: Cache\n  passwordSecret: {name: s, key: k}\n",
			want: []string{
				`inv.yaml: redis.name: "Cache_1" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
				`inv.yaml: redis.service: "1cache" is not a valid Service name (a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters)`,
				`inv.yaml: redis.container: "Cache" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
			},
		},
		{
			name:  "encryption without recipients",
			input: head + pg + "encryption: {age: []}\n",
			want:  []string{`inv.yaml: encryption.age: required: list at least one age recipient (age1..., from age-keygen -y), or leave encryption out`},
		},
		{
			name:  "an age recipient that is not one, a secret key, and one listed twice",
			input: head + pg + "encryption:\n  age:\n  - age1nope\n  - AGE-SECRET-KEY-1QQQQ\n  - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n  - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
			want: []string{
				`inv.yaml: encryption.age[0]: "age1nope" is not an age recipient (age1..., from age-keygen -y): malformed recipient "age1nope": separator '1' at invalid position: pos=3, len=8`,
				`inv.yaml: encryption.age[1]: a secret key, not a recipient: list its public key (age-keygen -y KEYFILE), and keep the secret key out of the inventory`,
				`inv.yaml: encryption.age[3]: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" is listed twice`,
			},
		},
		{
			name:  "a default redis Service that a database uses says it is the default",
			input: head + "postgres:\n  databases: [{name: a, service: redis-service}]\n" + redisBlock,
			want:  []string{`inv.yaml: redis.service: "redis-service" (the default, from name "redis") is already used by postgres.databases[0].service (Service names must be unique)`},
		},
		{
			name:  "a redis Service that is also a database's Service",
			input: head + "postgres:\n  databases: [{name: a, service: shared}]\nredis:\n  service: shared\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.service: "shared" is already used by postgres.databases[0].service (Service names must be unique)`},
		},
		{
			name:  "an image with white space",
			input: head + "postgres:\n  image: \"postgres: 17\"\n  databases: [{name: a}]\n",
			want:  []string{`inv.yaml: postgres.image: "postgres: 17" is not an image reference: it contains white space`},
		},
		{
			name:  "a blank CA common name",
			input: head + "pki:\n  ca: {commonName: \"  \"}\n" + pg,
			want:  []string{"inv.yaml: pki.ca.commonName: must not be blank"},
		},
		{
			name:  "a bad clusterDomain and a bad secretName",
			input: head + "clusterDomain: Cluster_Local\npostgres:\n  secretName: -tls\n  databases: [{name: a}]\n",
			want: []string{
				`inv.yaml: clusterDomain: "Cluster_Local" is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)`,
				`inv.yaml: postgres.secretName: "-tls" is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)`,
			},
		},
		{
			name:  "an unknown postgres.clientAuth lists the supported ones",
			input: head + "postgres:\n  clientAuth: required\n  databases: [{name: a}]\n",
			want:  []string{`inv.yaml: postgres.clientAuth: "required" is not supported (supported values: "none", "verify-full", "cert")`},
		},
		{
			name:  "an unknown redis.clientAuth lists the supported ones",
			input: head + "redis:\n  clientAuth: verify-full\n  passwordSecret: {name: s, key: k}\n",
			want:  []string{`inv.yaml: redis.clientAuth: "verify-full" is not supported (supported values: "none", "required")`},
		},
		{
			name:  "a client naming a database that is not in the inventory",
			input: head + pg + "clients:\n- {name: auth-service, postgres: [auth-db, autth-db], user: auth_user}\n",
			want:  []string{`inv.yaml: clients[0].postgres[1]: "autth-db" is not a database of the inventory (a name in postgres.databases)`},
		},
		{
			name:  "a client naming a database when the inventory has no postgres block",
			input: head + redisBlock + "clients:\n- {name: auth-service, postgres: [auth-db], redis: true, user: auth_user}\n",
			want:  []string{`inv.yaml: clients[0].postgres[0]: "auth-db" is not a database of the inventory: it has no postgres block`},
		},
		{
			name:  "a client using the Redis when the inventory has none",
			input: head + pg + "clients:\n- {name: auth-service, postgres: [auth-db], redis: true, user: auth_user}\n",
			want:  []string{`inv.yaml: clients[0].redis: true, but the inventory has no redis block`},
		},
		{
			name:  "a client listing one database twice",
			input: head + pg + "clients:\n- {name: auth-service, postgres: [auth-db, auth-db], user: auth_user}\n",
			want:  []string{`inv.yaml: clients[0].postgres[1]: "auth-db" is listed twice`},
		},
		{
			name:  "a client of no server",
			input: head + pg + "clients:\n- {name: auth-service, user: auth_user}\n",
			want:  []string{`inv.yaml: clients[0].postgres: required: list the databases it connects to, or set redis: true: a client of no server has nothing to verify`},
		},
		{
			name:  "a client of a database without a user",
			input: head + pg + "clients:\n- {name: auth-service, postgres: [auth-db]}\n",
			want:  []string{`inv.yaml: clients[0].user: required: the database user it connects as: the common name of its client certificate`},
		},
		{
			name:  "bad client names, containers and users are each named",
			input: head + pg + redisBlock + "clients:\n- {name: Auth_Service, postgres: [auth-db], user: auth_user}\n- {name: pos, container: Main, redis: true}\n- {name: sales, postgres: [tenant-db], user: \"sales user\"}\n- {name: orders, postgres: [tenant-db], user: " + strings.Repeat("u", 64) + "}\n",
			want: []string{
				`inv.yaml: clients[0].name: "Auth_Service" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
				`inv.yaml: clients[1].container: "Main" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
				`inv.yaml: clients[2].user: "sales user" is not a database user tlsgen accepts: 1 to 63 ASCII letters, digits, '_', '.', '-', '@' or '$' (the certificate's common name must equal the user PostgreSQL sees)`,
				`inv.yaml: clients[3].user: "` + strings.Repeat("u", 64) + `" is not a database user tlsgen accepts: 1 to 63 ASCII letters, digits, '_', '.', '-', '@' or '$' (the certificate's common name must equal the user PostgreSQL sees)`,
			},
		},
		{
			name:  "a client listed twice, and a client named like a database",
			input: head + pg + "clients:\n- {name: auth-service, postgres: [auth-db], user: a}\n- {name: auth-service, postgres: [tenant-db], user: b}\n- {name: tenant-db, postgres: [tenant-db], user: c}\n",
			want: []string{
				`inv.yaml: clients[1].name: "auth-service" is already used by clients[0].name (Deployment names must be unique)`,
				`inv.yaml: clients[2].name: "tenant-db" is already used by postgres.databases[1].name (Deployment names must be unique)`,
			},
		},
		{
			name:  "a client Secret colliding with a server's Secret under mutual TLS",
			input: head + "postgres:\n  clientAuth: cert\n  secretName: auth-service-client-tls\n  databases: [{name: auth-db}]\nclients:\n- {name: auth-service, postgres: [auth-db], user: a}\n",
			want:  []string{`inv.yaml: clients[0].name: "auth-service-client-tls" is already used by postgres.secretName (Secret names must be unique)`},
		},
		{
			name:  "a wrong type for a client's fields",
			input: head + pg + "clients:\n- {name: a, postgres: auth-db, redis: \"yes\", user: 5}\n",
			want: []string{
				`inv.yaml: clients[0].postgres: expected a list, found the string "auth-db"`,
				`inv.yaml: clients[0].redis: expected true or false, found the string "yes"`,
				`inv.yaml: clients[0].user: expected a string, found the number 5`,
			},
		},
		{
			name:  "an unknown field in a client",
			input: head + pg + "clients:\n- {name: a, postgres: [auth-db], user: a, databases: [auth-db]}\n",
			want:  []string{`inv.yaml: clients[0].databases: unknown field`},
		},
		{
			name:  "three problems give three lines, unknown fields first",
			input: "apiVersion: tlsgen/v1alpha1\nkind: Inventory\nnamespace: bakery-ia\nbase: base\nextra: 1\npki:\n  server: {validity: 30d, renewBefore: 30d}\npostgres:\n  databases: [{name: Auth_DB}]\n",
			want: []string{
				"inv.yaml: extra: unknown field",
				"inv.yaml: pki.server.renewBefore: 30d must be shorter than pki.server.validity (30d): the certificate would be renewed at every render",
				`inv.yaml: postgres.databases[0].name: "Auth_DB" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := model.Parse("inv.yaml", []byte(tt.input))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want\n%s", inv, strings.Join(tt.want, "\n"))
			}
			if inv != nil {
				t.Errorf("Parse returned an inventory with its error")
			}
			var me *model.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *model.Error: %v", err, err)
			}
			if me.File != "inv.yaml" || len(me.Errs) != len(tt.want) {
				t.Errorf("*model.Error has file %q and %d problems, want inv.yaml and %d", me.File, len(me.Errs), len(tt.want))
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseAcceptsGenVariants(t *testing.T) {
	tests := []struct {
		name string
		opts []gen.Option
	}{
		{name: "the fixture builder's default inventory"},
		{name: "perDatabase certificates", opts: []gen.Option{gen.PerDatabase()}},
		{name: "RSA keys and the modern profile", opts: []gen.Option{gen.Keys(model.RSA2048), gen.Profile(model.Modern)}},
		{name: "no Redis", opts: []gen.Option{gen.NoRedis()}},
		{name: "a short validity in hours", opts: []gen.Option{gen.Validity("48h", "30m")}},
		{name: "a hundred databases", opts: []gen.Option{gen.ManyDatabases(100)}},
		{name: "uid zero", opts: []gen.Option{gen.UID(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := model.Parse("inventory.yaml", gen.YAML(tt.opts...)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
