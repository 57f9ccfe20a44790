package bench

import (
	"strconv"
	"strings"
)

// HitGroup is the BenchmarkHitRatio replays of one trace, or of one
// prefix of it: hit% by capacity and policy.
type HitGroup struct {
	Trace    string
	Requests int   // replayed
	Caps     []int // in order of first appearance
	Hit      map[int]map[string]float64
	Spread   map[int]map[string]float64 // spread-points, for policies replayed more than once
}

// Has reports whether g has a hit ratio for policy.
func (g *HitGroup) Has(policy string) bool {
	for _, c := range g.Caps {
		if _, ok := g.Hit[c][policy]; ok {
			return true
		}
	}
	return false
}

// HitGroups returns the groups of BenchmarkHitRatio in r, in order of
// first appearance, from the medians of their hit% and spread-points.
func (r *Results) HitGroups() []*HitGroup {
	var groups []*HitGroup
	byKey := map[string]*HitGroup{}
	for _, name := range r.Names {
		if !strings.HasPrefix(name, "BenchmarkHitRatio/") {
			continue
		}
		var trace, policy string
		requests, capacity := -1, -1
		for _, e := range strings.Split(name, "/")[1:] {
			k, v, _ := strings.Cut(e, "=")
			switch k {
			case "trace":
				trace = v
			case "policy":
				policy = v
			case "requests":
				requests, _ = strconv.Atoi(v)
			case "cap":
				capacity, _ = strconv.Atoi(v)
			}
		}
		v, ok := r.Median(name, "hit%")
		if !ok || trace == "" || policy == "" || requests < 0 || capacity < 0 {
			continue
		}
		key := trace + "/" + strconv.Itoa(requests)
		g := byKey[key]
		if g == nil {
			g = &HitGroup{Trace: trace, Requests: requests, Hit: map[int]map[string]float64{}, Spread: map[int]map[string]float64{}}
			byKey[key] = g
			groups = append(groups, g)
		}
		if g.Hit[capacity] == nil {
			g.Hit[capacity] = map[string]float64{}
			g.Spread[capacity] = map[string]float64{}
			g.Caps = append(g.Caps, capacity)
		}
		g.Hit[capacity][policy] = v
		if s, ok := r.Median(name, "spread-points"); ok {
			g.Spread[capacity][policy] = s
		}
	}
	return groups
}

// Whole reports whether g replays all of its trace: no group of groups
// replays more of it.
func (g *HitGroup) Whole(groups []*HitGroup) bool {
	for _, h := range groups {
		if h.Trace == g.Trace && h.Requests > g.Requests {
			return false
		}
	}
	return true
}

// HitPolicies are the policies of BenchmarkHitRatio, in the order of the
// tables and charts, with their labels.
var HitPolicies = []struct{ Name, Label string }{
	{"fifo", "FIFO"},
	{"lru", "LRU (golang-lru)"},
	{"otter", "otter (W-TinyLFU)"},
	{"s3-fifo", "S3-FIFO"},
	{"memostore-lru", "memostore LRU"},
	{"memostore-wtinylfu", "memostore WTinyLFU"},
	{"memostore-disk", "memostore disk tier"},
	{"opt", "optimal (Belady)"},
}
