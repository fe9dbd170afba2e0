package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// difference describes the first place where got differs from want, or returns "" when they
// are the same as a store must give them back: times equal as instants (a store may return
// another location), JSON equal as values (a store may re-encode it), and a nil map or slice
// the same as an empty one.
func difference(got, want any) string {
	return diffValue("", reflect.ValueOf(got), reflect.ValueOf(want))
}

func diffValue(path string, got, want reflect.Value) string {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			return fmt.Sprintf("%s: got %v, want %v", orTop(path), got, want)
		}
		return ""
	}
	if got.Type() != want.Type() {
		return fmt.Sprintf("%s: got a %s, want a %s", orTop(path), got.Type(), want.Type())
	}
	switch got.Type() {
	case timeType:
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) {
			return fmt.Sprintf("%s: got %s, want %s", orTop(path), g.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano))
		}
		return ""
	case rawType:
		return diffJSON(path, got.Bytes(), want.Bytes())
	}
	switch got.Kind() {
	case reflect.Pointer, reflect.Interface:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return fmt.Sprintf("%s: got %s, want %s", orTop(path), describe(got), describe(want))
			}
			return ""
		}
		return diffValue(path, got.Elem(), want.Elem())
	case reflect.Struct:
		for i := range got.NumField() {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if d := diffValue(path+"."+f.Name, got.Field(i), want.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s: got %d elements, want %d:\n got  %+v\n want %+v", orTop(path), got.Len(), want.Len(), got, want)
		}
		for i := range got.Len() {
			if d := diffValue(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s: got %v, want %v", orTop(path), got, want)
		}
		for _, k := range want.MapKeys() {
			g := got.MapIndex(k)
			if !g.IsValid() {
				return fmt.Sprintf("%s: key %v missing; got %v", orTop(path), k, got)
			}
			if d := diffValue(fmt.Sprintf("%s[%v]", path, k), g, want.MapIndex(k)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return fmt.Sprintf("%s: got %#v, want %#v", orTop(path), got, want)
	}
	return ""
}

func diffJSON(path string, got, want []byte) string {
	if len(got) == 0 && len(want) == 0 {
		return ""
	}
	var g, w any
	errG, errW := json.Unmarshal(got, &g), json.Unmarshal(want, &w)
	if errG != nil || errW != nil || !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("%s: got JSON %s, want %s", orTop(path), got, want)
	}
	return ""
}

func describe(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return fmt.Sprintf("%+v", v.Elem())
}

func orTop(path string) string {
	if path == "" {
		return "value"
	}
	return path
}
