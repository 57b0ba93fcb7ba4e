package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// headEnv, set to 1 in the environment of a re-executed test binary, makes it run the
// command's main instead of the tests: the test binary is then the bookmarks command, with
// its arguments (see startHead and runCommand).
const headEnv = "BOOKMARKS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(headEnv) == "1" {
		main() // exits with 1 on failure
		os.Exit(0)
	}
	testenv.Main(m) // drops the test databases of this process
}

// command returns the bookmarks command (this test binary running main) with args, and env
// added to the test's environment (later entries win).
func command(args []string, env []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), headEnv+"=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	return cmd
}

// runCommand runs the bookmarks command to completion ("migrate --ini …") and fails the test
// with its output when it exits with an error.
func runCommand(t *testing.T, env []string, args ...string) {
	t.Helper()
	out, err := command(args, env).CombinedOutput()
	if err != nil {
		t.Fatalf("bookmarks %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// head is one web head: a bookmarks server running in its own OS process.
type head struct {
	// URL is the server's root URL, "http://127.0.0.1:<port>/".
	URL  string
	cmd  *exec.Cmd
	logs *tail
	done chan error // the process's exit
	once sync.Once  // stop
}

// startHead starts the bookmarks server in a new process with args (--listen is added: any
// free port) and env, and waits for its "listening" log record. The test's cleanup stops it
// with SIGTERM (a graceful shutdown) and fails the test if it does not exit with 0, which
// also catches data races the detector found in it; the server's last log lines are shown
// when the test failed.
func startHead(t *testing.T, env []string, args ...string) *head {
	t.Helper()
	cmd := command(append(args, "--listen", "127.0.0.1:0"), env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &head{cmd: cmd, logs: &tail{max: 60}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			h.logs.add(line)
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" && rec.URL != "" {
				select {
				case listening <- rec.URL:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-copied // Wait closes the pipe: read it all first
		h.done <- cmd.Wait()
	}()
	t.Cleanup(func() { h.stop(t) })

	select {
	case h.URL = <-listening:
		return h
	case err := <-h.done:
		h.done <- err
		t.Fatalf("bookmarks %s exited before listening: %v\n%s", strings.Join(args, " "), err, h.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("bookmarks %s did not listen within 60s\n%s", strings.Join(args, " "), h.logs)
	}
	return nil
}

// stop sends SIGTERM and waits for the process to exit, killing it after 20 seconds.
func (h *head) stop(t *testing.T) {
	t.Helper()
	h.once.Do(func() { h.terminate(t) })
}

func (h *head) terminate(t *testing.T) {
	t.Helper()
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-h.done:
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		err = errors.Join(errors.New("killed: no exit 20s after SIGTERM"), <-h.done)
	}
	if err != nil {
		t.Errorf("web head %s: %v\n%s", h.URL, err, h.logs)
	} else if t.Failed() {
		t.Logf("last log lines of web head %s:\n%s", h.URL, h.logs)
	}
}

// tail keeps the last max lines written by a process, for failure reports.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *tail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == l.max {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// remote is an http.Handler that forwards each request to the server at base
// ("http://127.0.0.1:8888/"), so that the test client of resources_test.go can talk to a
// server running in another process.
func remote(base string) http.Handler {
	base = strings.TrimSuffix(base, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(out)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			json.NewEncoder(w).Encode(map[string]string{"proxy_error": err.Error()})
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	})
}
