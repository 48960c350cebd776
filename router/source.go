package router

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/payroute/payroute/config"
)

// Source locates the keys of a configuration file by line, so a problem
// with "router.rules[2].when[1]" can be reported at the line that wrote it.
// The config loader decodes YAML into plain structs and keeps no positions;
// Source reads them from the same bytes instead.
type Source struct {
	file  string
	lines map[string]int // key path (config.JoinKey syntax) → 1-based line
}

// NewSource indexes the YAML document data read from file. Keys are
// recorded in the loader's key-path syntax ("router.rules[2].when[1]");
// a mapping entry is located at its key, a list element at its first line.
// A document that does not parse yields a Source that knows the file name
// but no lines: the loader reports the syntax error itself.
func NewSource(file string, data []byte) *Source {
	s := &Source{file: file, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return s
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		s.index(doc.Content[0], "", 0)
	}
	return s
}

func (s *Source) index(n *yaml.Node, key string, depth int) {
	if depth > 64 {
		return
	}
	// An alias is not followed: its keys are at its anchor's lines, and
	// following aliases of aliases would take exponential time on a
	// hostile document; keys under it fall back to the alias's line.
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				continue
			}
			ck := config.JoinKey(key, k.Value)
			if _, dup := s.lines[ck]; !dup {
				s.lines[ck] = k.Line
			}
			s.index(v, ck, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ck := fmt.Sprintf("%s[%d]", key, i)
			s.lines[ck] = c.Line
			s.index(c, ck, depth+1)
		}
	}
}

// File is the file name given to NewSource.
func (s *Source) File() string {
	if s == nil {
		return ""
	}
	return s.file
}

// Line returns the line of key, or of its nearest enclosing key that the
// file wrote ("router.rules[2].split" falls back to "router.rules[2]" when
// the split was not written), or 0 when nothing encloses it (a value set
// only by a default or the environment).
func (s *Source) Line(key string) int {
	if s == nil {
		return 0
	}
	for key != "" {
		if l, ok := s.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}
