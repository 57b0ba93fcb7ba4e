package main

import (
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// TestMain drops the PostgreSQL databases the tests created (see testenv.PostgresDatabase).
func TestMain(m *testing.M) { testenv.Main(m) }
