package spec

import (
	"fmt"
	"strings"
)

// Suggest returns the candidate closest to word when it is close enough to be a likely typo,
// or "". Case, '-' versus '_' and small edits do not matter: "Port-Env" suggests "port_env".
// The command line uses it for command names too.
func Suggest(word string, candidates []string) string {
	norm := normalizeWord(word)
	if norm == "" {
		return ""
	}
	length := len([]rune(norm))
	limit := min(max(length/3, 1), 3)
	best, bestDistance, bestPrefix := "", limit+1, 0
	for _, c := range candidates {
		cn := normalizeWord(c)
		// Lengths further apart than the limit are that many edits apart at least; skipping
		// them keeps a long unknown key from costing its length times each candidate's.
		if diff := length - len([]rune(cn)); diff > limit || -diff > limit {
			continue
		}
		d := editDistance(norm, cn)
		// Between equally close candidates, the one sharing the longest start is the likelier
		// intent: "Linear10PercentEvery1Minutes" meant ...Every1Minute, not ...Every10Minutes.
		prefix := commonPrefix(norm, cn)
		if d < bestDistance || (d == bestDistance && prefix > bestPrefix) {
			best, bestDistance, bestPrefix = c, d, prefix
		}
	}
	return best
}

func normalizeWord(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
}

// didYouMean returns "; did you mean X?" for a close candidate, else "; known: a, b, c".
func didYouMean(word string, candidates []string) string {
	if len(candidates) == 0 {
		return "; it takes no keys"
	}
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return "; known: " + strings.Join(candidates, ", ")
}

// editDistance is the Levenshtein distance between a and b, counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
