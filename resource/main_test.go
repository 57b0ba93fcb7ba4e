package resource_test

import (
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// TestMain drops the PostgreSQL databases the tests created (they are private to this test
// process: see testenv.PostgresDatabase).
func TestMain(m *testing.M) { testenv.Main(m) }
