package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Error is an inventory that cannot be used: every problem found, each with
// its field path, and the file they were found in.
type Error struct {
	File string
	Errs field.ErrorList
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		if fe.Field == "" || fe.Field == "<nil>" { // the whole file: no path to name
			lines[i] = e.File + ": " + fe.Detail
			continue
		}
		lines[i] = e.File + ": " + describe(fe)
	}
	return strings.Join(lines, "\n")
}

// describe words a field error the way the rest of tlsgen speaks:
// `postgres.databases[3].name: "Auth_DB" is not a valid DNS-1123 label`.
func describe(fe *field.Error) string {
	switch fe.Type {
	case field.ErrorTypeRequired:
		msg := fe.Field + ": required"
		if fe.Detail != "" {
			msg += ": " + fe.Detail
		}
		return msg
	case field.ErrorTypeNotSupported:
		return fmt.Sprintf("%s: %q is not supported (%s)", fe.Field, fe.BadValue, fe.Detail)
	case field.ErrorTypeNotFound:
		return fe.Field + ": unknown field"
	default:
		return fe.Field + ": " + fe.Detail
	}
}

// Parse reads an inventory strictly, applies defaults and validates it. It
// reports every problem at once, as an *Error naming file.
func Parse(file string, data []byte) (*Inventory, error) {
	// YAMLToJSONStrict rejects duplicate keys; the generic decode finds
	// unknown fields with their paths (strict struct decoding has neither
	// paths nor line numbers, and stops at the first).
	fileErr := func(detail string) error {
		return &Error{File: file, Errs: field.ErrorList{field.Invalid(nil, nil, detail)}}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fileErr("not valid YAML: " + trimYAML(err))
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, fileErr("not valid YAML: " + err.Error())
	}
	if generic == nil {
		return nil, fileErr("empty: expected an inventory (apiVersion: " + APIVersion + ", kind: " + Kind + ")")
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, fileErr("not an inventory: expected a YAML mapping with apiVersion: " + APIVersion)
	}
	// Unknown fields and values of the wrong type, every one with its full
	// path (json's UnmarshalTypeError drops list indices and stops at the
	// first). With a value of the wrong type, validation would only add
	// "required" for the field json skipped: stop there.
	unknown, mistyped := checkShape(nil, generic, reflect.TypeOf(Inventory{}))
	if len(mistyped) > 0 {
		return nil, &Error{File: file, Errs: append(unknown, mistyped...)}
	}
	inv := &Inventory{}
	if err := json.Unmarshal(js, inv); err != nil {
		// checkShape should have caught it; say what json says.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &Error{File: file, Errs: append(unknown, field.Invalid(field.NewPath(te.Field), nil, fmt.Sprintf("expected %s, found %s", kindOf(te.Type), te.Value)))}
		}
		return nil, &Error{File: file, Errs: append(unknown, field.Invalid(nil, nil, err.Error()))}
	}
	d := inv.setDefaults()
	if errs := append(unknown, inv.validate(d)...); len(errs) > 0 {
		return nil, &Error{File: file, Errs: errs}
	}
	// Output never depends on the order the file lists databases in.
	if pg := inv.Postgres; pg != nil {
		slices.SortFunc(pg.Databases, func(a, b Database) int { return strings.Compare(a.Name, b.Name) })
	}
	slices.SortFunc(inv.Clients, func(a, b Client) int { return strings.Compare(a.Name, b.Name) })
	return inv, nil
}

// trimYAML makes a YAML error one line: the decoder's own prefixes go, and
// "unmarshal errors:\n  line 4: key ... already set in map" keeps its lines
// joined by "; ".
func trimYAML(err error) string {
	s := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n")
	// sigs.k8s.io/yaml words these with Go syntax ("%!s(<nil>)", "[]interface {}").
	if strings.HasPrefix(s, "unsupported map key") || strings.HasPrefix(s, "invalid map key") {
		return "a mapping key that is null, a list or a mapping: keys are field names"
	}
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	default:
		return "a " + t.Kind().String()
	}
}

var durationType = reflect.TypeOf(Duration{})

// checkShape walks a decoded document beside the Go type it should fit and
// reports every key the type has no field for, and every value of the wrong
// type (null is always allowed: it leaves the default).
func checkShape(path *field.Path, v any, t reflect.Type) (unknown, mistyped field.ErrorList) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil, nil
	}
	wrong := func(want string) (field.ErrorList, field.ErrorList) {
		return nil, field.ErrorList{field.Invalid(path, nil, fmt.Sprintf("expected %s, found %s", want, found(v)))}
	}
	if t == durationType {
		switch v.(type) {
		case string, float64: // a bare number: validation says it lacks a unit
			return nil, nil
		}
		return wrong("a duration (e.g. 3y, 90d)")
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return wrong("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrong("true or false")
		}
	case reflect.Int, reflect.Int64:
		if n, ok := v.(float64); !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return wrong("a whole number")
		}
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			return wrong("a list")
		}
		for i, item := range items {
			u, m := checkShape(path.Index(i), item, t.Elem())
			unknown, mistyped = append(unknown, u...), append(mistyped, m...)
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return wrong("a mapping")
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				unknown = append(unknown, field.NotFound(path.Child(k), nil))
				continue
			}
			u, mt := checkShape(path.Child(k), m[k], ft)
			unknown, mistyped = append(unknown, u...), append(mistyped, mt...)
		}
	}
	return unknown, mistyped
}

// found names what a decoded value is, for "expected a list, found a string".
func found(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	default:
		return fmt.Sprintf("%v", v)
	}
}
