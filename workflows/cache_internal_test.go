package workflows

import "testing"

// TestPureCachesStayBounded: however many definitions a server reloads, a cache of pure
// results holds at most maxCached of them and still answers what it holds.
func TestPureCachesStayBounded(t *testing.T) {
	var c pureCache[int, int]
	for i := range 3 * maxCached {
		c.put(i, i*i)
		if n := c.len(); n > maxCached {
			t.Fatalf("after %d puts the cache holds %d, over %d", i+1, n, maxCached)
		}
		if v, ok := c.get(i); !ok || v != i*i {
			t.Fatalf("get(%d) = %d, %v just after put", i, v, ok)
		}
	}
}
