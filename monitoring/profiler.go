package monitoring

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

// DefaultProfilerPath is the default mount path of [Profiler] (setting profiler_path).
const DefaultProfilerPath = "/__profiler__"

// Profiler returns a handler serving Go runtime profiles under path ("" means
// [DefaultProfilerPath]), in the formats of net/http/pprof so that `go tool pprof
// http://host/__profiler__/heap` works:
//
//	path/                   an HTML index of the profiles
//	path/<name>             a runtime profile: heap, allocs, goroutine, block, mutex,
//	                        threadcreate (?debug=1 for text, ?gc=1 to run a GC before heap)
//	path/profile?seconds=N  a CPU profile over N seconds (default 30)
//	path/trace?seconds=N    an execution trace over N seconds (default 1)
//	path/cmdline            the command line, NUL-separated
//
// path itself redirects to path+"/"; other paths answer 404. The handler reads the full
// request path, so mount it on both path and path+"/*" (chi) or path+"/" (http.ServeMux)
// without stripping the prefix. Unlike importing net/http/pprof, using this package
// registers nothing on http.DefaultServeMux.
//
// The profiles reveal the program's internals and the CPU profile and trace endpoints are
// costly: the toolkit mounts it only when profiler_enabled is true, and the path must not be
// reachable from the public network (block it at the proxy or serve it on a separate
// loopback listener).
func Profiler(path string) http.Handler {
	if path == "" {
		path = DefaultProfilerPath
	}
	path = "/" + strings.Trim(path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == path {
			http.Redirect(w, r, path+"/", http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(p, path+"/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		switch name {
		case "":
			profilerIndex(w)
		case "cmdline":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, strings.Join(os.Args, "\x00"))
		case "profile":
			timedProfile(w, r, 30, pprof.StartCPUProfile, pprof.StopCPUProfile)
		case "trace":
			timedProfile(w, r, 1, trace.Start, trace.Stop)
		default:
			namedProfile(w, r, name)
		}
	})
}

func profilerIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><title>profiles</title></head><body>\n<h1>Profiles</h1>\n<table>\n")
	for _, p := range pprof.Profiles() {
		n := html.EscapeString(p.Name())
		fmt.Fprintf(&b, "<tr><td>%d</td><td><a href=\"%s?debug=1\">%s</a></td></tr>\n", p.Count(), n, n)
	}
	b.WriteString("</table>\n<p><a href=\"profile\">profile</a> (CPU, 30 s; ?seconds=N) · " +
		"<a href=\"trace?seconds=1\">trace</a> · <a href=\"cmdline\">cmdline</a></p>\n</body></html>\n")
	fmt.Fprint(w, b.String())
}

func namedProfile(w http.ResponseWriter, r *http.Request, name string) {
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, "unknown profile "+strconv.Quote(name), http.StatusNotFound)
		return
	}
	debug, _ := strconv.Atoi(r.FormValue("debug"))
	if name == "heap" && r.FormValue("gc") != "" {
		runtime.GC()
	}
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	_ = p.WriteTo(w, debug) // the client went away, or the profile is already partly sent
}

// timedProfile runs start/stop around a wait of ?seconds=N (def when absent), cut short when
// the client goes away.
func timedProfile(w http.ResponseWriter, r *http.Request, def int, start func(w io.Writer) error, stop func()) {
	sec := def
	if s := r.FormValue("seconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			http.Error(w, "seconds must be a positive integer", http.StatusBadRequest)
			return
		}
		sec = n
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	if err := start(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "could not start profiling: "+err.Error(), http.StatusInternalServerError)
		return
	}
	t := time.NewTimer(time.Duration(sec) * time.Second)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	stop()
}
