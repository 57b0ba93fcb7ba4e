package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxIdentifier is the longest name, in bytes, PostgreSQL keeps (NAMEDATALEN - 1).
const maxIdentifier = 63

// ProcessSuffix returns the suffix of this test process's database names:
// "__<host>_<pid>_<start>", where host is six hexadecimal digits of a hash of the machine's
// host name, pid the process id and start the process's start time (in clock ticks since
// boot, base 36, from /proc; "0" where /proc is missing). pid and start name one process of
// the machine for good, even once the pid is reused, so a database whose process is gone is
// recognised as a leftover. It is computed from the process, not stored, so it is the same on
// every call.
func ProcessSuffix() string {
	pid := os.Getpid()
	start, _ := processStart(pid)
	return "__" + hostTag() + "_" + strconv.Itoa(pid) + "_" + start
}

// hostTag is six hexadecimal digits of the SHA-256 of the host name: databases created by
// another machine (or container) sharing the server are never taken for leftovers of this one.
func hostTag() string {
	h, _ := os.Hostname()
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:3])
}

// processStart returns the start time of process pid, in clock ticks since boot in base 36
// (field 22 of /proc/<pid>/stat), and whether the process exists. Without /proc it returns
// "0" and false.
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "0", false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "0", false
	}
	fields := strings.Fields(s[i+1:]) // fields[0] is field 3 (state)
	if len(fields) < 20 {
		return "0", false
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return "0", false
	}
	return strconv.FormatUint(ticks, 36), true
}

// processDatabase matches the names PostgresDatabase gives: name, host tag, pid, start.
var processDatabase = regexp.MustCompile(`^.+__([0-9a-f]{6})_([0-9]+)_([0-9a-z]+)$`)

// isLeftover reports whether the database name was created by a test process of this machine
// that no longer runs. Names of other machines, and every name where /proc cannot tell, are
// not leftovers.
func isLeftover(name string) bool {
	m := processDatabase.FindStringSubmatch(name)
	if m == nil || m[1] != hostTag() {
		return false
	}
	if _, ok := processStart(os.Getpid()); !ok {
		return false // no /proc: liveness unknown
	}
	pid, err := strconv.Atoi(m[2])
	if err != nil {
		return false
	}
	start, alive := processStart(pid)
	return !alive || start != m[3]
}

// dropStaleDatabases drops, best effort, the databases of test processes of this machine that
// are gone. Errors are ignored: another process may be dropping the same database.
func dropStaleDatabases(ctx context.Context, conn *pgx.Conn) {
	for _, name := range processDatabases(ctx, conn, "") {
		if isLeftover(name) {
			_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
		}
	}
}

// processDatabases lists the databases whose name has a process suffix, ending with suffix.
func processDatabases(ctx context.Context, conn *pgx.Conn, suffix string) []string {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE '%\_\_%' ORDER BY datname`)
	if err != nil {
		return nil
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil
	}
	out := names[:0]
	for _, n := range names {
		if processDatabase.MatchString(n) && strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

// DropProcessDatabases drops the databases this test process created with
// [PostgresDatabase] and [PostgresDatabaseC] (those ending with [ProcessSuffix]),
// disconnecting whatever still uses them. It does nothing without a test server. [Main] calls
// it once the tests have run.
func DropProcessDatabases() error {
	dsn := os.Getenv(PostgresDSNVar)
	if dsn == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, name := range processDatabases(ctx, conn, ProcessSuffix()) {
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	return nil
}

// Main runs the tests of a package that uses [PostgresDatabase], then drops the databases
// they created, and exits with the tests' status. Call it from the package's TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// A run killed before the end leaves its databases behind; the next run on the machine drops
// them (see [PostgresDatabase]).
func Main(m *testing.M) {
	code := m.Run()
	if err := DropProcessDatabases(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
	}
	os.Exit(code)
}
