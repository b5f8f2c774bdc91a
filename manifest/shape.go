package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
)

// fieldError is a problem at a path, located later by document.errorAt.
type fieldError struct {
	path, msg string
}

// checkShape compares generic JSON (decoded with UseNumber) against the Go
// type it will be decoded into, and appends every unknown field, wrong
// type and unparsable value to errs with its full path. encoding/json would
// stop at the first such error and without the list indexes, and a custom
// unmarshaler's error (an invalid quantity) without any path at all.
//
// Each bad value is removed from v (a map key deleted, a list element set
// to null), so that what is left decodes and the later stages can report
// their problems in the same pass. It reports whether v itself is good; a
// caller holding v removes it when it is not.
func checkShape(v any, t reflect.Type, p string, errs *[]fieldError) bool {
	if v == nil {
		return true // null decodes to the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return report(errs, checkUnmarshal(v, t, p))
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return report(errs, typeErr(p, "an object", v))
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				// Matching is exact, as in Kubernetes: "Image" is not "image".
				*errs = append(*errs, fieldError{field(p, k), "unknown field"})
				delete(m, k)
				continue
			}
			if !checkShape(m[k], f, field(p, k), errs) {
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return report(errs, typeErr(p, "an object", v))
		}
		for _, k := range sortedKeys(m) {
			if !checkShape(m[k], t.Elem(), field(p, k), errs) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.(string); !ok {
				return report(errs, typeErr(p, "a base64 string", v))
			}
			return true
		}
		l, ok := v.([]any)
		if !ok {
			return report(errs, typeErr(p, "a list", v))
		}
		for i, e := range l {
			if !checkShape(e, t.Elem(), index(p, i), errs) {
				l[i] = nil
			}
		}
	default:
		return report(errs, checkScalar(v, t, p))
	}
	return true
}

// report appends fe, if any, and says whether there was none.
func report(errs *[]fieldError, fe *fieldError) bool {
	if fe == nil {
		return true
	}
	*errs = append(*errs, *fe)
	return false
}

// checkScalar checks a string, boolean or number against its Go kind.
func checkScalar(v any, t reflect.Type, p string) *fieldError {
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return typeErr(p, "a string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return typeErr(p, "true or false", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return typeErr(p, "an integer", v)
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return &fieldError{p, fmt.Sprintf("%s is not a %d-bit integer", n, t.Bits())}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return typeErr(p, "an integer", v)
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return &fieldError{p, fmt.Sprintf("%s is not an unsigned %d-bit integer", n, t.Bits())}
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return typeErr(p, "a number", v)
		}
	}
	return nil
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	quantityType    = reflect.TypeFor[resource.Quantity]()
)

// checkUnmarshal runs a type's own UnmarshalJSON on the value, so that its
// error gets a path.
func checkUnmarshal(v any, t reflect.Type, p string) *fieldError {
	raw, err := json.Marshal(v)
	if err != nil {
		return &fieldError{p, err.Error()}
	}
	u := reflect.New(t).Interface().(json.Unmarshaler)
	if err := u.UnmarshalJSON(raw); err != nil {
		if t == quantityType {
			return &fieldError{p, fmt.Sprintf("%s is not a valid quantity", raw)}
		}
		return &fieldError{p, fmt.Sprintf("invalid value %s: %v", raw, err)}
	}
	return nil
}

func typeErr(p, want string, v any) *fieldError {
	var got string
	switch v := v.(type) {
	case map[string]any:
		got = "an object"
	case []any:
		got = "a list"
	case string:
		got = fmt.Sprintf("a string (%q)", v)
	case bool:
		got = fmt.Sprintf("a boolean (%t)", v)
	case json.Number:
		got = "a number (" + v.String() + ")"
	default:
		got = fmt.Sprintf("%T", v)
	}
	return &fieldError{p, "expected " + want + ", got " + got}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted for deterministic errors; documents are located by line later.
	slices.Sort(keys)
	return keys
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields lists a struct's JSON field names and types, with inline
// (embedded TypeMeta/ObjectMeta) fields flattened.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	eachField(t, func(name string, f reflect.StructField, _ []int) { m[name] = f.Type })
	fieldCache.Store(t, m)
	return m
}

// eachField calls fn for every JSON-visible field of struct type t, with
// its index path for reflect.Value.FieldByIndex.
func eachField(t reflect.Type, fn func(name string, f reflect.StructField, idx []int)) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(","+opts+",", ",inline,")) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			eachField(ft, func(n string, sf reflect.StructField, idx []int) {
				fn(n, sf, append([]int{i}, idx...))
			})
			continue
		}
		if name == "" {
			name = f.Name
		}
		fn(name, f, []int{i})
	}
}

// shape is the part of a Kubernetes type that Shoal supports: a tree of
// JSON field names. A leaf accepts everything below it (validated during
// conversion); an ignored field is accepted and dropped, for the few that
// Kubernetes itself writes (uid, status, ...) so that `get -o yaml` output
// applies again.
type shape struct {
	fields map[string]*shape
	leaf   bool
	ignore bool
}

var (
	leaf    = &shape{leaf: true}
	ignored = &shape{ignore: true}
)

func obj(fields map[string]*shape) *shape { return &shape{fields: fields} }

// unsupported walks a decoded object and reports every set field that s
// does not list, at the highest level where it is not supported
// (spec.template.spec.affinity, not ...affinity.podAntiAffinity...).
func unsupported(v reflect.Value, s *shape, p string, out *[]fieldError) {
	if s.leaf || s.ignore {
		return
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		eachField(v.Type(), func(name string, _ reflect.StructField, idx []int) {
			fv := v.FieldByIndex(idx)
			if isEmpty(fv) {
				return
			}
			sub := s.fields[name]
			if sub == nil {
				*out = append(*out, fieldError{field(p, name), "not supported by Shoal"})
				return
			}
			unsupported(fv, sub, field(p, name), out)
		})
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			unsupported(v.Index(i), s, index(p, i), out)
		}
	}
}

// isEmpty reports whether a field is unset, or set to something that means
// the same as unset: a zero scalar, an empty list or map, an object with
// nothing set in it (`securityContext: {}`). A pointer to a scalar counts as
// set even when zero (`automountServiceAccountToken: false` asks for
// something), so such fields are refused.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true
		}
		if e := v.Elem(); e.Kind() == reflect.Struct {
			return isEmpty(e)
		}
		return false
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Struct:
		if v.IsZero() {
			return true
		}
		empty := true
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				return false // opaque value type (Quantity, Time) that is not zero
			}
			if !isEmpty(v.Field(i)) {
				empty = false
			}
		}
		return empty
	default:
		return v.IsZero()
	}
}
