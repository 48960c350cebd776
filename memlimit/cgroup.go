package memlimit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// containerLimit is the memory limit of the cgroup the process runs in:
// the smallest limit set on its cgroup or any ancestor visible in the
// cgroup file system (a Kubernetes pod has one on the pod and one on each
// container), from cgroup v2's memory.max, or else v1's
// memory.limit_in_bytes. root prefixes every path read ("/" but in
// tests). It returns 0 and no error where there is no limit: no cgroup
// file system, no memory controller, or "max" (v1: a value of 2^62 or
// more, the page-rounded maximum v1 reports for none). file is where the
// limit was read.
func containerLimit(root string) (limit int64, file string, err error) {
	groups, err := readCgroups(filepath.Join(root, "proc/self/cgroup"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", nil // not Linux, or no /proc
	}
	if err != nil {
		return 0, "", err
	}
	mounts, err := readCgroupMounts(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return 0, "", err
	}
	// cgroup v2 first: on a hybrid system the unified hierarchy is
	// mounted too, but holds the memory controller only where v1 does
	// not, and then its memory.max files are there.
	for _, m := range mounts {
		if m.v2 {
			if g, ok := groups[""]; ok {
				if limit, file, found, err := lowestLimit(root, m, g, "memory.max"); found || err != nil {
					return limit, file, err
				}
			}
		}
	}
	for _, m := range mounts {
		if !m.v2 && m.memory {
			if g, ok := groups["memory"]; ok {
				if limit, file, found, err := lowestLimit(root, m, g, "memory.limit_in_bytes"); found || err != nil {
					return limit, file, err
				}
			}
		}
	}
	return 0, "", nil
}

// readCgroups reads /proc/self/cgroup ("4:memory:/a/b", "0::/a/b") into
// the process's cgroup path per controller: "" for cgroup v2.
func readCgroups(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// cgroupMount is a mounted cgroup hierarchy: root is the hierarchy's
// directory mounted (not "/" in a container without its own cgroup
// namespace) and dir where.
type cgroupMount struct {
	root, dir string
	v2        bool
	memory    bool // a v1 hierarchy with the memory controller
}

// readCgroupMounts reads the cgroup file systems of /proc/self/mountinfo:
// "36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory".
func readCgroupMounts(file string) ([]cgroupMount, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) {
			continue
		}
		m := cgroupMount{root: unescape(fields[3]), dir: unescape(fields[4])}
		switch fields[sep+1] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for o := range strings.SplitSeq(fields[sep+3], ",") {
				m.memory = m.memory || o == "memory"
			}
		default:
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// unescape undoes mountinfo's octal escapes of spaces, tabs, newlines and
// backslashes in paths ("\040").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lowestLimit reads name in the directory of cgroup group under mount m
// and in each ancestor up to the mount's, and returns the lowest limit
// set. found is false when the file is in none of them (the controller is
// not enabled there); limit is 0 when every one says there is none.
func lowestLimit(root string, m cgroupMount, group, name string) (limit int64, file string, found bool, err error) {
	dir := "/"
	switch g, r := path.Clean(group), path.Clean(m.root); {
	case r == "/":
		dir = g
	case strings.HasPrefix(g, r+"/"):
		dir = g[len(r):]
	}
	// Otherwise the process's cgroup is the mounted one, or outside the
	// mounted part of the hierarchy (a cgroup namespace's view of it):
	// the mount's own directory is the nearest one visible.
	for {
		f := filepath.Join(root, m.dir, dir, name)
		b, rerr := os.ReadFile(f)
		switch {
		case errors.Is(rerr, fs.ErrNotExist):
		case rerr != nil:
			return 0, "", false, rerr
		default:
			found = true
			v := strings.TrimSpace(string(b))
			if v != "max" {
				n, perr := strconv.ParseInt(v, 10, 64)
				if perr != nil {
					return 0, "", false, fmt.Errorf("%s: %q is not a memory limit", f, v)
				}
				if n > 0 && n < 1<<62 && (limit == 0 || n < limit) {
					limit, file = n, filepath.Join(m.dir, dir, name)
				}
			}
		}
		if dir == "/" {
			return limit, file, found, nil
		}
		dir = path.Dir(dir)
	}
}
