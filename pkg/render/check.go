package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/bakery-ia/tlsgen/pkg/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
)

// Deployments decodes the built Deployments strictly into their k8s.io/api
// type, by name.
func Deployments(m resmap.ResMap) (map[string]*appsv1.Deployment, error) {
	out := map[string]*appsv1.Deployment{}
	for _, r := range m.Resources() {
		if r.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := DecodeStrict(r, d); err != nil {
			return nil, fmt.Errorf("Deployment %q: %w", r.GetName(), err)
		}
		out[d.Name] = d
	}
	return out, nil
}

// DecodeStrict decodes a built resource into a typed object, refusing any
// field the type does not have.
func DecodeStrict(r *resource.Resource, into any) error {
	js, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// CheckBase looks in the base for what the overlay relies on and
// kustomize would not catch: every Deployment the inventory names, servers
// and clients, with a selector, and the container to patch (a strategic
// merge patch would otherwise add a half-empty container); for a client,
// no volume or mount of its own where the patch puts the CA bundle and
// its certificate. It also finds what `kustomize
// build` would refuse in the overlay, for `render -o`, which does not build:
// two resources of one kind and name, and a patched Deployment whose file
// sets a namespace. It returns the container to patch in each Deployment,
// read from the base where the inventory names none (see Container), and
// warnings for what works but is likely a mistake.
func CheckBase(inv *model.Inventory, base *Base) (containers map[string]string, warnings []string, err error) {
	var problems problemList
	for _, d := range base.duplicates {
		problems.add("%s: the overlay puts every resource in namespace %s, where kustomize refuses two of one kind and name", d, inv.Namespace)
	}
	containers = map[string]string{}
	// deployment finds a patched Deployment and checks what every patch
	// needs of it.
	deployment := func(name string) *appsv1.Deployment {
		d, ok := base.Deployments[name]
		if !ok {
			problems.add("no Deployment %q", name)
			return nil
		}
		// kustomize matches the patch, which names no namespace, to a
		// Deployment whose file names none or "default", whatever namespace
		// a kustomization sets later (the overlay's replaces the base's);
		// TestCheckBaseRefusesWhatKustomizeRefuses holds this to a build.
		if ns := base.fileNamespaces[name]; ns != "" && ns != "default" {
			problems.add("Deployment %q sets namespace %q in its file, so kustomize finds no target for its patch, which names none (\"no resource matches strategic merge patch\"): set the namespace in the base's kustomization instead", name, ns)
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
			problems.add("Deployment %q has no selector", name)
		}
		return d
	}
	for _, s := range inv.Servers() {
		d := deployment(s.Name)
		if d == nil {
			continue
		}
		c, err := Container(d, s.Container, s.DefaultContainer, s.ContainerField)
		if err != nil {
			problems.add("%v", err)
			continue
		}
		containers[s.Name] = c.Name
		if pg := inv.Postgres; s.Kind == model.PostgresKind && pg.UID == nil && c.Image != pg.Image {
			// With a uid stated, the image does not matter.
			warnings = append(warnings, fmt.Sprintf("Deployment %q runs %s but postgres.image is %s: the TLS files are owned by uid %d, which fits the inventory's image", s.Name, c.Image, pg.Image, pg.RunAsUID()))
		}
	}
	for _, cl := range inv.Clients {
		d := deployment(cl.Name)
		if d == nil {
			continue
		}
		c, err := Container(d, cl.Container, cl.Name, cl.Field+".container")
		if err != nil {
			problems.add("%v", err)
			continue
		}
		containers[cl.Name] = c.Name
		w, err := checkClient(inv, cl, d, c)
		if err != nil {
			problems.add("%v", err)
		}
		warnings = append(warnings, w...)
	}
	return containers, warnings, problems.err()
}

// checkClient finds what would break the patch of client cl's Deployment
// d, whose container c it patches: a volume or a mount path of the base
// that the patch's would merge into (strategic merge matches volumes by
// name and mounts by path). It warns of what would keep the client from
// using what the patch gives it.
func checkClient(inv *model.Inventory, cl model.Client, d *appsv1.Deployment, c *corev1.Container) (warnings []string, err error) {
	_, hasCert := inv.ClientCertOf(cl)
	mine := map[string]string{caBundleVolume: CABundleDir}
	if hasCert {
		mine[clientVolume] = ClientTLSDir
	}
	var clashes []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if _, ok := mine[v.Name]; ok {
			clashes = append(clashes, fmt.Sprintf("a volume %q", v.Name))
		}
	}
	for _, m := range c.VolumeMounts {
		for _, dir := range mine {
			if path.Clean(m.MountPath) == dir {
				clashes = append(clashes, fmt.Sprintf("a mount at %s", dir))
			}
		}
	}
	if len(clashes) > 0 {
		slices.Sort(clashes)
		err = fmt.Errorf("Deployment %q (%s) has %s, which the patch would merge with its own: rename it", cl.Name, cl.Field, strings.Join(clashes, " and "))
	}

	// A URL the application builds or is given wins over PGSSLMODE.
	for _, e := range c.Env {
		if m := weakTLSParam.FindString(e.Value); m != "" && e.Name != EnvPGSSLMode {
			warnings = append(warnings, fmt.Sprintf("Deployment %q sets %s with %s, which overrides what tlsgen sets (%s=verify-full, %s): drop it from the value, or verify the server there too", cl.Name, e.Name, strings.TrimLeft(m, "?&"), EnvPGSSLMode, EnvRedisTLSCAFile))
		}
	}

	// A Secret volume's files are root's, and its group is the fsGroup.
	if hasCert {
		pod := d.Spec.Template.Spec.SecurityContext
		var uid *int64
		nonRoot := false
		if pod != nil {
			uid = pod.RunAsUser
			nonRoot = pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
		}
		if sc := c.SecurityContext; sc != nil {
			if sc.RunAsUser != nil {
				uid = sc.RunAsUser
			}
			if sc.RunAsNonRoot != nil {
				nonRoot = *sc.RunAsNonRoot
			}
		}
		if (nonRoot || (uid != nil && *uid != 0)) && (pod == nil || pod.FSGroup == nil) {
			warnings = append(warnings, fmt.Sprintf("Deployment %q runs as a non-root user without an fsGroup: it cannot read its client key, which its Secret volume gives to root and to the pod's fsGroup (mode %#o, as libpq accepts for a key root owns); set spec.template.spec.securityContext.fsGroup", cl.Name, ClientKeyMode))
		}
	}
	return warnings, err
}

// weakTLSParam finds, in a connection URL, a setting that turns the
// server's verification off or down: the guide's ssl=require (asyncpg),
// sslmode=require (libpq) and ssl_cert_reqs=none (redis-py).
var weakTLSParam = regexp.MustCompile(`[?&](ssl|sslmode)=(disable|allow|prefer|require|verify-ca)\b|[?&]ssl_cert_reqs=(none|optional|CERT_NONE|CERT_OPTIONAL)\b`)

// DefaultContainerAnnotation names a Pod's default container, as kubectl
// reads it (kubectl logs, exec).
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Container chooses the container to patch in d: the one stated; else the
// Deployment's only container; else the one its pod template's
// kubectl.kubernetes.io/default-container annotation names; else the one
// named def. field is where the inventory states it, for messages.
func Container(d *appsv1.Deployment, stated, def, field string) (*corev1.Container, error) {
	cs := d.Spec.Template.Spec.Containers
	find := func(name string) *corev1.Container {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
		return nil
	}
	if stated != "" {
		if c := find(stated); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("Deployment %q has no container %q (%s)", d.Name, stated, field)
	}
	if len(cs) == 1 {
		return &cs[0], nil
	}
	if c := find(d.Spec.Template.Annotations[DefaultContainerAnnotation]); c != nil {
		return c, nil
	}
	if c := find(def); c != nil {
		return c, nil
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("Deployment %q has no containers", d.Name)
	}
	return nil, fmt.Errorf("Deployment %q has containers %s and none is named %q or marked with the %s annotation: set %s", d.Name, strings.Join(names, ", "), def, DefaultContainerAnnotation, field)
}

// maxProblems is how many problems an error spells out; a base that lacks
// a thousand Deployments is one mistake, not a thousand.
const maxProblems = 5

// problemList counts every problem and formats the first maxProblems.
type problemList struct {
	shown []string
	n     int
}

func (p *problemList) add(format string, args ...any) {
	p.n++
	if len(p.shown) < maxProblems {
		p.shown = append(p.shown, fmt.Sprintf(format, args...))
	}
}

func (p *problemList) err() error {
	if p.n == 0 {
		return nil
	}
	shown := p.shown
	if p.n > len(shown) {
		shown = append(shown[:len(shown):len(shown)], fmt.Sprintf("and %d more", p.n-len(shown)))
	}
	return errors.New(strings.Join(shown, "; "))
}
