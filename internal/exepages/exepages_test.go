package exepages

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRegions(t *testing.T) {
	const exe = "/usr/local/bin/shoal"
	tests := []struct {
		name    string
		maps    string
		want    []Region
		wantErr string
	}{
		{
			name: "text and rodata, not data, bss, heap or other files",
			maps: `00400000-00411000 r--p 00000000 fe:00 42 /usr/local/bin/shoal
00411000-01509000 r-xp 00011000 fe:00 42 /usr/local/bin/shoal
01509000-02811000 r--p 01109000 fe:00 42 /usr/local/bin/shoal
02812000-028af000 rw-p 02411000 fe:00 42 /usr/local/bin/shoal
028af000-02900000 rw-p 00000000 00:00 0 
c000000000-c000400000 rw-p 00000000 00:00 0 
7f2b7bb4c000-7f2b7bca2000 r-xp 00028000 fe:00 7 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffe7b46b000-7ffe7b48c000 rw-p 00000000 00:00 0                          [stack]
`,
			want: []Region{{0x400000, 0x411000}, {0x411000, 0x1509000}, {0x1509000, 0x2811000}},
		},
		{
			name: "another binary of the same name elsewhere",
			maps: "00400000-00411000 r-xp 00000000 fe:00 42 /tmp/usr/local/bin/shoal\n",
		},
		{
			name: "a path with spaces",
			maps: "00400000-00411000 r-xp 00000000 fe:00 42 /opt/my apps/shoal\n",
		},
		{name: "empty"},
		{
			name:    "address without a dash",
			maps:    "00400000 r-xp 00000000 fe:00 42 /usr/local/bin/shoal\n",
			wantErr: `maps line 1: address "00400000": expected START-END in hex`,
		},
		{
			name:    "start not hex",
			maps:    "zz-00411000 r-xp 00000000 fe:00 42 /usr/local/bin/shoal\n",
			wantErr: `maps line 1: start "zz": expected hex`,
		},
		{
			name:    "end not hex",
			maps:    "\n00400000-0x1 r-xp 00000000 fe:00 42 /usr/local/bin/shoal\n",
			wantErr: `maps line 2: end "0x1": expected hex`,
		},
		{
			name:    "end below start",
			maps:    "00411000-00400000 r-xp 00000000 fe:00 42 /usr/local/bin/shoal\n",
			wantErr: `maps line 1: address "00411000-00400000": end not above start`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Regions(strings.NewReader(tt.maps), exe)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRegionsSpacedPath(t *testing.T) {
	got, err := Regions(strings.NewReader("00400000-00411000 r-xp 00000000 fe:00 42 /opt/my apps/shoal\n"), "/opt/my apps/shoal")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Region{{0x400000, 0x411000}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func FuzzRegions(f *testing.F) {
	f.Add("00400000-00411000 r-xp 00011000 fe:00 42 /bin/shoal\n02812000-028af000 rw-p 02411000 fe:00 42 /bin/shoal\n")
	f.Add("zz-1 r--p 0 0 0 /bin/shoal")
	f.Fuzz(func(t *testing.T, maps string) {
		regions, err := Regions(strings.NewReader(maps), "/bin/shoal")
		if err != nil {
			return
		}
		for _, r := range regions {
			if r.End <= r.Start {
				t.Fatalf("region %#v: end not above start", r)
			}
		}
	})
}

// TestAdviseSelf runs both calls on the test binary itself, which goes on
// running, re-reading its code as it needs it, with fewer of its pages
// resident than before.
func TestAdviseSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	// A test binary just linked may still be dirty in the page cache,
	// and dirty pages are not given back before they are written.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	before := exeRSS(t)
	if err := ReadByPage(); err != nil {
		t.Fatal(err)
	}
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("resident pages of the test binary: %d kB before, %d kB after", before, after)
	if after >= before {
		t.Fatalf("resident pages of the test binary: %d kB after Release, %d kB before", after, before)
	}
}

// TestDropSelf: with a second process mapping the same binary (a copy of
// this test, waiting), Release cannot give back the pages both touched,
// and Drop takes them out of this process's resident set all the same;
// the test goes on running, re-reading its code as it needs it. It runs
// in a fresh copy of the test binary, which no other test has advised.
func TestDropSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	switch os.Getenv("EXEPAGES_TEST") {
	case "wait":
		time.Sleep(time.Minute)
		return
	case "drop":
		dropBesideAnother(t)
		return
	}
	out, err := selfCopy("drop").CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

func selfCopy(role string) *exec.Cmd {
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run", "^TestDropSelf$", "-test.v")
	cmd.Env = append(os.Environ(), "EXEPAGES_TEST="+role)
	return cmd
}

func dropBesideAnother(t *testing.T) {
	other := selfCopy("wait")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	time.Sleep(500 * time.Millisecond) // until it has started up
	before := exeRSS(t)
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	released := exeRSS(t)
	if err := Drop(); err != nil {
		t.Fatal(err)
	}
	dropped := exeRSS(t)
	t.Logf("resident read-only pages of the test binary, another copy running: %d kB, %d kB after Release, %d kB after Drop", before, released, dropped)
	if dropped > released*2/3 {
		t.Fatalf("Drop left %d kB of %d resident", dropped, released)
	}
}

func TestDroppable(t *testing.T) {
	// The layout of a cgo-linked shoal binary: headers, text, rodata, the
	// RELRO page at the start of the data segment, data.
	regions := []Region{{0x400000, 0x411000}, {0x411000, 0x1502000}, {0x1502000, 0x2818000}, {0x2818000, 0x2819000}}
	segs := []Segment{
		{Start: 0x400000, End: 0x410938},
		{Start: 0x411000, End: 0x150195d},
		{Start: 0x1502000, End: 0x28172e8},
		{Start: 0x2818df0, End: 0x4906920, Writable: true},
		{Start: 0x2818df0, End: 0x2819000, Relro: true},
	}
	got := Droppable(regions, segs)
	want := regions[:3]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("droppable %x, want %x", got, want)
	}
	// A region that reaches into a writable segment is never dropped.
	if got := Droppable([]Region{{0x1502000, 0x2819000}}, segs); len(got) != 0 {
		t.Fatalf("droppable %x across the RELRO page", got)
	}
	// Nor one outside every segment.
	if got := Droppable([]Region{{0x5000000, 0x5001000}}, segs); len(got) != 0 {
		t.Fatalf("droppable %x outside the segments", got)
	}
}

// exeRSS sums the Rss of the executable's read-only mappings (those
// Release and Drop act on) in /proc/self/smaps.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, inExe := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			inExe = len(f) >= 6 && strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w")
		case inExe && len(f) == 3 && f[0] == "Rss:":
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("smaps %q: %v", line, err)
			}
			total += kb
		}
	}
	return total
}
