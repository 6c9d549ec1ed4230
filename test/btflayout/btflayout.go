// Package btflayout checks, in tests, that Go structs shared with BPF C
// (the bpf2go bindings) match the C structs in the compiled object's BTF:
// size and the offset of every member, and that Go constants named after C
// enum members have their values, so that stale bindings or hand edits
// fail.
package btflayout

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// Check compares each Go value of cases with the C struct of the same name
// in types, reporting every difference on t.
func Check(t testing.TB, types *btf.Spec, cases map[string]any) {
	t.Helper()
	for name, v := range cases {
		var s *btf.Struct
		if err := types.TypeByName(name, &s); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		gt := reflect.TypeOf(v)
		if int(s.Size) != binary.Size(v) || uintptr(s.Size) != gt.Size() {
			t.Errorf("%s: C size %d, Go %d (binary %d)", name, s.Size, gt.Size(), binary.Size(v))
		}
		var fields []reflect.StructField
		for i := 0; i < gt.NumField(); i++ {
			if f := gt.Field(i); f.Name != "_" {
				fields = append(fields, f)
			}
		}
		if len(fields) != len(s.Members) {
			t.Errorf("%s: C has %d members, Go %d fields", name, len(s.Members), len(fields))
			continue
		}
		for i, m := range s.Members {
			if uintptr(m.Offset.Bytes()) != fields[i].Offset {
				t.Errorf("%s.%s: C offset %d, Go %s at %d", name, m.Name, m.Offset.Bytes(), fields[i].Name, fields[i].Offset)
			}
		}
	}
}

// CheckEnums compares each C enum of types named in enums with the Go
// values given for its members: a member without a Go value, a Go value
// for a member C does not have, or a different value is reported on t.
func CheckEnums(t testing.TB, types *btf.Spec, enums map[string]map[string]uint64) {
	t.Helper()
	for name, want := range enums {
		var e *btf.Enum
		if err := types.TypeByName(name, &e); err != nil {
			t.Errorf("enum %s: %v", name, err)
			continue
		}
		seen := map[string]bool{}
		for _, v := range e.Values {
			seen[v.Name] = true
			w, ok := want[v.Name]
			switch {
			case !ok:
				t.Errorf("%s: C member %s = %d has no Go name", name, v.Name, v.Value)
			case w != v.Value:
				t.Errorf("%s: C %s = %d, Go %d", name, v.Name, v.Value, w)
			}
		}
		for n := range want {
			if !seen[n] {
				t.Errorf("%s: Go names %s, which C does not have", name, n)
			}
		}
	}
}
