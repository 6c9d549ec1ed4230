package attach

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pin layout under the pin directory:
//
//	links/tcx_<direction>_<iface>   a TCX link (pinning keeps it attached)
//	progs/cls_<direction>_<iface>   the program a cls_bpf filter runs (a record)
//
// The interface name is the last component so that names with '_' parse.
const (
	linksDir = "links"
	progsDir = "progs"
)

type pinKind string

const (
	pinTCX pinKind = "tcx"
	pinCls pinKind = "cls"
)

type pinName struct {
	kind  pinKind
	dir   Direction
	iface string
}

func (p pinName) String() string {
	return fmt.Sprintf("%s_%s_%s", p.kind, p.dir, p.iface)
}

func (p pinName) path(root string) string {
	sub := linksDir
	if p.kind == pinCls {
		sub = progsDir
	}
	return filepath.Join(root, sub, p.String())
}

func parsePinName(name string) (pinName, bool) {
	parts := strings.SplitN(name, "_", 3)
	if len(parts) != 3 || parts[2] == "" {
		return pinName{}, false
	}
	k, d := pinKind(parts[0]), Direction(parts[1])
	if (k != pinTCX && k != pinCls) || (d != Ingress && d != Egress) {
		return pinName{}, false
	}
	return pinName{kind: k, dir: d, iface: parts[2]}, true
}

// listPins returns every attachment pin under root.
func listPins(root string) ([]pinName, error) {
	var out []pinName
	for _, sub := range []string{linksDir, progsDir} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing pins: %w", err)
		}
		for _, e := range ents {
			if p, ok := parsePinName(e.Name()); ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func ensureDirs(root string) error {
	for _, sub := range []string{linksDir, progsDir} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
			return fmt.Errorf("creating pin directory: %w", err)
		}
	}
	return nil
}
