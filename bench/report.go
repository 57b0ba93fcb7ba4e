package main

import (
	"fmt"
	"io"
	"strings"
)

func find(rs []result, backend, scenario, target string) *result {
	for i := range rs {
		r := &rs[i]
		if r.Backend == backend && r.Scenario == scenario && r.Target == target {
			return r
		}
	}
	return nil
}

func scenarioTitle(name string) string {
	for _, s := range scenarios {
		if s.name == name {
			return s.title
		}
	}
	return name
}

func latency(r *result) string {
	return fmt.Sprintf("%.2f / %.2f", r.P50ms, r.P99ms)
}

func cpu(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// kb formats bytes per operation in KB, "-" when not measured.
func kb(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v/1024)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// writeMarkdown prints the report as markdown tables, ready for docs/benchmarks.md.
func writeMarkdown(w io.Writer, rep *report, o options) {
	m := rep.Machine
	fmt.Fprintf(w, "### Run of %s\n\n", rep.Date)
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s GB RAM, %s, PostgreSQL %s. ", m.CPUs, m.CPUModel, m.MemoryGB, m.Go, orNA(m.PostgreSQL))
	mode := "child processes"
	if o.inProcess {
		mode = "in-process servers"
	}
	fmt.Fprintf(w, "%d keep-alive clients, %s × %d rounds per target (bare and toolkit alternating), %s warm-up, %s, %d records in the read collection.\n\n",
		o.clients, o.duration, o.rounds, o.warmup, mode, o.records)

	for _, backend := range o.backends {
		// PostgreSQL's own CPU per request, on its backend only: the server, the harness and
		// the database share the machine's cores. pgCol(s) is s in the PostgreSQL table.
		pg := backend == "postgresql"
		pgCol := func(s string) string {
			if pg {
				return s
			}
			return ""
		}
		fmt.Fprintf(w, "#### %s\n\n", backend)
		fmt.Fprintln(w, "| scenario | bare req/s | toolkit req/s | toolkit / bare | bare p50 / p99 ms | toolkit p50 / p99 ms | errors bare / toolkit | server CPU µs/op bare / toolkit | harness CPU µs/op bare / toolkit | server KB allocated/op bare / toolkit |"+
			pgCol(" PostgreSQL CPU µs/op bare / toolkit |"))
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"+pgCol("---:|"))
		for _, name := range o.scenarios {
			title := scenarioTitle(name)
			b, t := find(rep.Results, backend, title, targetBare), find(rep.Results, backend, title, targetToolkit)
			if b == nil || t == nil {
				continue
			}
			if t.NA || b.NA {
				fmt.Fprintf(w, "| %s | %s | %s | n/a | | | | | | |%s\n", title, rps(b), rps(t), pgCol(" |"))
				continue
			}
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %s | %s | %d / %d | %s / %s | %s / %s | %s / %s |%s\n", title, b.RPS, t.RPS, t.RPS/b.RPS,
				latency(b), latency(t), b.Errors, t.Errors, cpu(b.ServerCPUus), cpu(t.ServerCPUus), cpu(b.ClientCPUus), cpu(t.ClientCPUus),
				kb(b.ServerBytes), kb(t.ServerBytes), pgCol(fmt.Sprintf(" %s / %s |", cpu(b.PostgresCPUus), cpu(t.PostgresCPUus))))
		}
		fmt.Fprintln(w)
	}

	if len(rep.Scale) > 0 {
		small, large := "1k", sizeLabel(o.scaleRecords)
		fmt.Fprintf(w, "#### Scale (PostgreSQL, toolkit): %s vs %s records in one collection\n\n", small, large)
		fmt.Fprintf(w, "| scenario | %s req/s | %s p50 / p99 ms | %s req/s | %s p50 / p99 ms | p50 %s / %s | errors |\n", small, small, large, large, large, small)
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, name := range scaleScenarios {
			a, b := find(rep.Scale, "postgresql", name, small), find(rep.Scale, "postgresql", name, large)
			if a == nil || b == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %.0f | %s | %.0f | %s | %.2f | %d / %d |\n", name, a.RPS, latency(a), b.RPS, latency(b), b.P50ms/a.P50ms, a.Errors, b.Errors)
		}
		for _, l := range rep.Loads {
			if l.Seconds > 0 {
				fmt.Fprintf(w, "\nCOPY load of %s records: %.1f s.", sizeLabel(l.Records), l.Seconds)
			}
		}
		fmt.Fprint(w, "\n\n")
	}

	if len(rep.Hot) > 0 {
		fmt.Fprintf(w, "#### Hot collection (PostgreSQL, %d writers, %s per run; the %d-collection runs twice, in opposite orders, merged)\n\n",
			o.hotWriters, o.hotDuration, o.hotCollections)
		fmt.Fprintln(w, "| run | writes/s | p50 / p99 ms | errors | timestamp collisions | writes missed by the _since poller | CPU µs/write: harness / server / PostgreSQL |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, h := range rep.Hot {
			missed := "-"
			if h.Missed >= 0 {
				missed = fmt.Sprintf("%d (%d polls)", h.Missed, h.Polls)
			}
			fmt.Fprintf(w, "| %s | %.0f | %.2f / %.2f | %d | %d | %s | %s / %s / %s |\n", h.Name, h.WPS, h.P50ms, h.P99ms, h.Errors, h.Collisions, missed,
				cpu(h.HarnessCPUus), cpu(h.ServerCPUus), cpu(h.PostgresCPUus))
		}
		fmt.Fprintln(w)
	}

	if len(rep.Tree) > 0 {
		writeTree(w, rep.Tree)
	}

	if f := rep.Feed; f != nil {
		writeFeed(w, f)
	}

	if rep.Soak != nil {
		s := rep.Soak
		fmt.Fprintf(w, "#### Soak (memory, toolkit, GET/list/PATCH mix): %.0f s, %d requests, %d errors\n\n", s.Seconds, s.Requests, s.Errors)
		fmt.Fprintln(w, "| second | heap in use after GC (MB) | RSS (MB) | goroutines |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|")
		for _, x := range s.Samples {
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %d |\n", x.Second, x.HeapMB, x.RSSMB, x.Goroutine)
		}
		fmt.Fprintln(w)
	}
	if len(rep.RSS) > 0 {
		fmt.Fprintln(w, "#### Idle RSS\n\n| process | RSS (MB) |\n|---|---:|")
		for _, l := range rep.RSS {
			fmt.Fprintf(w, "| %s | %.1f |\n", l.What, l.RSSMB)
		}
		fmt.Fprintln(w)
	}

	writeTargets(w, rep, o)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "Note: %s\n\n", n)
	}
}

func rps(r *result) string {
	if r.NA {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", r.RPS)
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// writeTargets checks the measured numbers against the targets of docs/benchmarks.md.
func writeTargets(w io.Writer, rep *report, o options) {
	var rows []string
	add := func(target, measured string, ok bool) {
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", target, measured, verdict(ok)))
	}
	get := scenarioTitle("get")
	for _, c := range []struct {
		backend string
		want    float64
	}{{"postgresql", 0.8}, {"memory", 0.7}} {
		b, t := find(rep.Results, c.backend, get, targetBare), find(rep.Results, c.backend, get, targetToolkit)
		if b != nil && t != nil && b.RPS > 0 {
			ratio := t.RPS / b.RPS
			add(fmt.Sprintf("GET one record, %s: toolkit ≥ %.1f× bare", c.backend, c.want),
				fmt.Sprintf("%.2f× (%.0f vs %.0f req/s)", ratio, t.RPS, b.RPS), ratio >= c.want && t.Errors == 0)
		}
	}
	large := sizeLabel(o.scaleRecords)
	if a, b := find(rep.Scale, "postgresql", "first page of 20", "1k"), find(rep.Scale, "postgresql", "first page of 20", large); a != nil && b != nil && a.P50ms > 0 {
		add(fmt.Sprintf("first page of 20: p50 at %s ≤ 1.5× p50 at 1k", large), fmt.Sprintf("%.2f× (%.2f vs %.2f ms)", b.P50ms/a.P50ms, b.P50ms, a.P50ms), b.P50ms <= 1.5*a.P50ms)
	}
	if b := find(rep.Scale, "postgresql", "_since, 100 changes", large); b != nil {
		add(fmt.Sprintf("_since delta of 100 in %s: p50 ≤ 10 ms", large), fmt.Sprintf("%.2f ms", b.P50ms), b.P50ms <= 10)
	}
	if b := find(rep.Scale, "postgresql", "HEAD count", large); b != nil {
		add(fmt.Sprintf("unfiltered HEAD (Total-Objects) at %s: p50 ≤ 5 ms", large), fmt.Sprintf("%.2f ms", b.P50ms), b.P50ms <= 5 && b.Errors == 0)
	}
	hot := map[string]hotResult{}
	for _, h := range rep.Hot {
		hot[h.Key] = h
	}
	if h, ok := hot["one"]; ok {
		add("hot collection: 0 errors, 0 collisions, 0 missed by the poller",
			fmt.Sprintf("%d errors, %d collisions, %d missed", h.Errors, h.Collisions, h.Missed), h.Errors == 0 && h.Collisions == 0 && h.Missed == 0)
		if sql, ok := hot["one-sql"]; ok {
			add("hot collection: ≥ 0.6× the SQL loop of the clock-and-insert statement",
				fmt.Sprintf("%.2f× (%.0f vs %.0f writes/s)", h.WPS/sql.WPS, h.WPS, sql.WPS), h.WPS >= 0.6*sql.WPS)
		}
	}
	spread, ok1 := hot["spread"]
	raw, ok2 := hot["spread-raw"]
	if ok1 && ok2 {
		measured := fmt.Sprintf("%.2f× (%.0f vs %.0f writes/s), %d errors", spread.WPS/raw.WPS, spread.WPS, raw.WPS, spread.Errors)
		if bare, ok := hot["spread-bare"]; ok {
			measured += fmt.Sprintf("; the bare handler over HTTP: %.2f× (%.0f writes/s)", bare.WPS/raw.WPS, bare.WPS)
		}
		add(fmt.Sprintf("%d collections: ≥ 0.5× the raw INSERT rate", spread.Collections), measured, spread.WPS >= 0.5*raw.WPS && spread.Errors == 0)
	}
	for _, l := range rep.Tree {
		add(fmt.Sprintf("tree, %s: tree app ≥ %.1f× flat app, 0 errors", l.Scenario, l.Target),
			fmt.Sprintf("%.2f× (%.0f vs %.0f req/s), %d errors", l.TreeOverFlat, l.Tree.RPS, l.Flat.RPS, l.Tree.Errors), l.Met)
	}
	if f := rep.Feed; f != nil {
		add(fmt.Sprintf("change feed, %d streams on %d heads, %.0f writes/s: commit→event p99 ≤ 100 ms, every event once", f.Streams, f.Heads, f.Rate),
			fmt.Sprintf("p99 %.1f ms (p50 %.1f ms), %d of %d events, %d duplicated", f.P99ms, f.P50ms, f.Delivered, f.Expected, f.Duplicates),
			f.P99ms <= 100 && f.Delivered == f.Expected && f.Duplicates == 0 && f.WriteErrors == 0)
		add("change feed: ≤ 20 KB of RSS per idle stream", fmt.Sprintf("%.1f KB (Go heap %.1f KB)", f.RSSPerStreamKB, f.HeapPerStreamKB), f.RSSPerStreamKB <= 20)
	}
	for _, l := range rep.RSS {
		if strings.HasPrefix(l.What, "examples/") {
			add("idle RSS of the example app < 30 MB", fmt.Sprintf("%.1f MB", l.RSSMB), l.RSSMB < 30)
		}
	}
	if s := rep.Soak; s != nil && len(s.Samples) > 2 {
		first, last := s.Samples[1].HeapMB, s.Samples[len(s.Samples)-1].HeapMB
		peak := 0.0
		for _, x := range s.Samples[1:] {
			peak = max(peak, x.HeapMB)
		}
		add(fmt.Sprintf("heap stable over the %.0f s soak (reported)", s.Seconds),
			fmt.Sprintf("after GC: %.1f MB at %d s, %.1f MB at the end, peak %.1f MB; %d errors", first, s.Samples[1].Second, last, peak, s.Errors),
			last <= first*1.2+1 && s.Errors == 0)
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "#### Targets\n\n| target | measured | |\n|---|---|---|")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w)
}

// writeTree prints the tree family: each scenario's tree app beside the flat app and the bare
// tree handler of the same run.
func writeTree(w io.Writer, lines []treeLine) {
	fmt.Fprintln(w, "#### Tree (PostgreSQL storage and permissions): the tree app beside the flat app and the bare tree handler")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | tree req/s | flat req/s | tree / flat | bare-tree req/s | tree / bare-tree | p50 / p99 ms tree | p50 / p99 ms flat | p50 / p99 ms bare-tree | errors tree / flat / bare-tree | server CPU µs/op tree / flat / bare-tree | PostgreSQL CPU µs/op tree / flat / bare-tree |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range lines {
		t, f, b := &l.Tree, &l.Flat, &l.BareTree
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %.0f | %.2f | %s | %s | %s | %d / %d / %d | %s / %s / %s | %s / %s / %s |\n",
			l.Scenario, t.RPS, f.RPS, l.TreeOverFlat, b.RPS, l.TreeOverBare, latency(t), latency(f), latency(b),
			t.Errors, f.Errors, b.Errors, cpu(t.ServerCPUus), cpu(f.ServerCPUus), cpu(b.ServerCPUus),
			cpu(t.PostgresCPUus), cpu(f.PostgresCPUus), cpu(b.PostgresCPUus))
	}
	fmt.Fprintln(w)
}

// writeFeed prints the change feed scenario.
func writeFeed(w io.Writer, f *feedResult) {
	fmt.Fprintf(w, "#### Change feed (PostgreSQL, %d web heads, %d streams over %d collections, %.0f writes/s for %.0f s)\n\n",
		f.Heads, f.Streams, f.Users, f.Rate, f.Seconds)
	fmt.Fprintln(w, "| measure | value |\n|---|---:|")
	fmt.Fprintf(w, "| writes (errors) | %d (%d) |\n", f.Writes, f.WriteErrors)
	fmt.Fprintf(w, "| events delivered / expected (duplicated) | %d / %d (%d) |\n", f.Delivered, f.Expected, f.Duplicates)
	fmt.Fprintf(w, "| commit→event p50 / p99 / max ms | %.1f / %.1f / %.1f |\n", f.P50ms, f.P99ms, f.MaxMs)
	fmt.Fprintf(w, "| paced write p50 / p99 ms | %.2f / %.2f |\n", f.WriteP50ms, f.WriteP99ms)
	fmt.Fprintf(w, "| per idle stream: RSS / Go heap KB, goroutines | %.1f / %.1f, %.2f |\n", f.RSSPerStreamKB, f.HeapPerStreamKB, f.GoroutinesPerStream)
	fmt.Fprintf(w, "| CPU µs per paced write, both heads (the write and its deliveries) | %s |\n", cpu(f.HeadsCPUusPerWrite))
	for _, t := range f.Throughput {
		fmt.Fprintf(w, "| unpaced creations, %d writers, %s: writes/s (p50 / p99 ms) | %.0f (%.2f / %.2f) |\n", feedWriters, t.What, t.WPS, t.P50ms, t.P99ms)
	}
	fmt.Fprintln(w)
}
