package memlimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRoot writes files under a temporary root: path → content.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	mountsV2 = `24 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// A cgroup v1 host where the unified hierarchy is mounted too, without
	// the memory controller (this is how a systemd hybrid host looks).
	mountsHybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
)

func TestContainerLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
		file  string
	}{{
		name: "v2 container with its own namespace",
		files: map[string]string{
			"proc/self/cgroup":          "0::/\n",
			"proc/self/mountinfo":       mountsV2,
			"sys/fs/cgroup/memory.max":  "536870912\n",
			"sys/fs/cgroup/memory.high": "max\n",
		},
		want: 512 << 20, file: "/sys/fs/cgroup/memory.max",
	}, {
		name: "v2 pod: the pod's limit is lower than the container's",
		files: map[string]string{
			"proc/self/cgroup":    "0::/kubepods.slice/pod1/cri-abc\n",
			"proc/self/mountinfo": mountsV2,
			"sys/fs/cgroup/kubepods.slice/pod1/cri-abc/memory.max": "2147483648\n",
			"sys/fs/cgroup/kubepods.slice/pod1/memory.max":         "1073741824\n",
			"sys/fs/cgroup/kubepods.slice/memory.max":              "max\n",
		},
		want: 1 << 30, file: "/sys/fs/cgroup/kubepods.slice/pod1/memory.max",
	}, {
		name: "v2 without a limit",
		files: map[string]string{
			"proc/self/cgroup":    "0::/user.slice/session-1.scope\n",
			"proc/self/mountinfo": mountsV2,
			"sys/fs/cgroup/user.slice/session-1.scope/memory.max": "max\n",
			"sys/fs/cgroup/user.slice/memory.max":                 "max\n",
		},
		want: 0,
	}, {
		name: "v1 on a hybrid host, unlimited (the page-rounded maximum)",
		files: map[string]string{
			"proc/self/cgroup":    "4:memory:/process_api/d1080356\n2:cpu,cpuacct:/\n0::/\n",
			"proc/self/mountinfo": mountsHybrid,
			"sys/fs/cgroup/memory/process_api/d1080356/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/process_api/memory.limit_in_bytes":          "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                      "9223372036854771712\n",
			"sys/fs/cgroup/unified/cgroup.procs":                              "1\n",
		},
		want: 0,
	}, {
		name: "v1 on a hybrid host, limited",
		files: map[string]string{
			"proc/self/cgroup":    "4:memory:/process_api/d1080356\n0::/\n",
			"proc/self/mountinfo": mountsHybrid,
			"sys/fs/cgroup/memory/process_api/d1080356/memory.limit_in_bytes": "314572800\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                      "9223372036854771712\n",
		},
		want: 300 << 20, file: "/sys/fs/cgroup/memory/process_api/d1080356/memory.limit_in_bytes",
	}, {
		name: "v1 container without a cgroup namespace: its cgroup is the mount's root",
		files: map[string]string{
			"proc/self/cgroup":                           "9:memory:/docker/4f2a\n",
			"proc/self/mountinfo":                        "40 31 0:35 /docker/4f2a /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n",
		},
		want: 256 << 20, file: "/sys/fs/cgroup/memory/memory.limit_in_bytes",
	}, {
		name: "a mount point with a space, escaped in mountinfo",
		files: map[string]string{
			"proc/self/cgroup":    "0::/\n",
			"proc/self/mountinfo": `29 24 0:26 / /cg\040root rw - cgroup2 cgroup2 rw` + "\n",
			"cg root/memory.max":  "104857600\n",
		},
		want: 100 << 20, file: "/cg root/memory.max",
	}, {
		name:  "no /proc: not Linux",
		files: map[string]string{"etc/hostname": "x\n"},
		want:  0,
	}, {
		name: "no cgroup file system mounted",
		files: map[string]string{
			"proc/self/cgroup":    "0::/\n",
			"proc/self/mountinfo": "24 30 0:22 / /sys rw - sysfs sysfs rw\n",
		},
		want: 0,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, file, err := containerLimit(fakeRoot(t, tc.files))
			if err != nil || got != tc.want || file != tc.file {
				t.Fatalf("got %d from %q (%v), want %d from %q", got, file, err, tc.want, tc.file)
			}
		})
	}
}

// A limit file that says something else than a number or "max" is an
// error, not a silent absence of limit.
func TestContainerLimitUnreadable(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"proc/self/mountinfo":      mountsV2,
		"sys/fs/cgroup/memory.max": "lots\n",
	})
	if _, _, err := containerLimit(root); err == nil || !strings.Contains(err.Error(), `"lots" is not a memory limit`) {
		t.Fatalf("err %v", err)
	}
}

// On this machine the limit is read without error, whatever it is.
func TestContainerLimitHere(t *testing.T) {
	limit, file, err := containerLimit("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("container memory limit here: %d bytes (%s)", limit, file)
}
