package source

import (
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// mapValue returns the value of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar returns the value of a scalar mapping entry, or "".
func scalar(n *yaml.Node, key string) string {
	if v := mapValue(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// isNull reports whether n is an explicit YAML null (`key:`, `key: null`, `~`).
func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// lineOf returns the line of the node a field path such as
// "spec.rules[1].http[0].paths[2].exact" names, or of its deepest ancestor
// present in the document.
func lineOf(root *yaml.Node, path string) int {
	n := root
	line := root.Line
	for _, part := range strings.Split(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if name != "" {
			if n = mapValue(n, name); n == nil {
				return line
			}
			line = n.Line
		}
		for idx != "" {
			var key string
			key, idx, _ = strings.Cut(idx, "]")
			idx = strings.TrimPrefix(idx, "[")
			if i, err := strconv.Atoi(key); err == nil && n.Kind == yaml.SequenceNode {
				if i < 0 || i >= len(n.Content) {
					return line
				}
				n = n.Content[i]
			} else if n = mapValue(n, key); n == nil {
				return line
			}
			line = n.Line
		}
	}
	return line
}

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

// errLine extracts the line a YAML or JSON conversion error mentions, or 0.
func errLine(err error) int {
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// findKey returns the first mapping key named key in document order, or nil.
func findKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i]
			}
		}
	}
	for _, c := range n.Content {
		if k := findKey(c, key); k != nil {
			return k
		}
	}
	return nil
}
